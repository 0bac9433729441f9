"""Options every command shares: where the configuration and the data are.

Settings and engines are imported where they are used: client commands import this module, and
they must start without loading pydantic-settings or SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from sq.service.cli.common import fail

if TYPE_CHECKING:
    from sq.service.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])


def config_options(fn: F) -> F:
    fn = click.option(
        "--data-dir",
        type=click.Path(path_type=Path),
        default=None,
        help="Where the embedded databases live (default ./.sq).",
    )(fn)
    return click.option(
        "--config",
        "config_path",
        type=click.Path(path_type=Path),
        default=Path("sq.yaml"),
        show_default=True,
        help="The configuration file (missing means the defaults).",
    )(fn)


def settings_from(config_path: Path, data_dir: Path | None) -> Settings:
    from sq.platform.config import ConfigError, load_settings
    from sq.service.settings import Settings

    try:
        return load_settings(Settings, config_path, data_dir=data_dir)
    except ConfigError as exc:
        fail(str(exc).replace("\n", " "))


def queue_engine(url: str) -> Any:
    from sq.platform.db import DatabaseURLError, check_connection, create_engine

    try:
        engine = create_engine(url)
        check_connection(engine)
    except DatabaseURLError as exc:
        fail(str(exc))
    return engine
