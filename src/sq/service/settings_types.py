"""What every settings module shares: the strict section base, durations, and name patterns."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
"""A SubmitQueue queue's or a Stovepipe project's name."""
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""The name of an environment variable."""


def parse_duration(value: object) -> object:
    """`90`, `90s`, `30m`, `1.5h`, `500ms` → seconds; anything else is left to the validator."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration (e.g. 500ms, 90s, 30m, 1h)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


Seconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]
OptionalSeconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]


class Section(BaseModel):
    """A settings section: unknown keys are an error, not ignored."""

    model_config = ConfigDict(extra="forbid")
