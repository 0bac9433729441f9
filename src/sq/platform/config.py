"""Configuration: one YAML file, validated at start, with `SQ_…` environment overrides.

Precedence: environment (`SQ_` prefix, `__` between nested keys) over the YAML file over the
defaults. A missing file means the defaults. Errors name the key and the reason in one line each.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

S = TypeVar("S", bound="FileSettings")


class ConfigError(ValueError):
    """The configuration cannot be used; the message lists every problem, one per line."""


class FileSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SQ_", env_nested_delimiter="__", extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init kwargs; the environment must win over them.
        return env_settings, init_settings, file_secret_settings


def load_settings(cls: type[S], path: Path | None, **overrides: Any) -> S:
    """Read `path` (if it exists), apply environment overrides and `overrides`, validate."""
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot be read: {exc.strerror or exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
        data = loaded or {}
    elif path is not None and path.name != "sq.yaml":
        raise ConfigError(f"{path}: no such configuration file")
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return cls(**data)
    except SettingsError as exc:  # an environment override that is not valid JSON
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise ConfigError(f"environment: {exc}{cause}") from exc
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top level)"
            lines.append(f"{where}: {error['msg']}")
        source = f"{path}: " if path is not None else ""
        raise ConfigError(source + "invalid configuration:\n  " + "\n  ".join(lines)) from exc
