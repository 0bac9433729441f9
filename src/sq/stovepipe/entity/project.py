"""Phase 2 entities: a project's own last green, and the per-request analysis record."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class ProjectHead:
    """A project's monotonic last green (its bookmark), keyed (queue, project)."""

    queue: str
    project: str
    last_green_uri: str = ""
    last_green_request_id: str = ""
    version: int = 1


class AnalysisState(enum.StrEnum):
    ATTRIBUTING = "attributing"
    """Building the projects the red commit affected."""
    WIDENED = "widened"
    """No affected project's build failed: every project is built on its own."""
    DONE = "done"
    """Every project has its fact at the commit, and the whole repository its degree."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Analysis:
    """What analyze decided for one request (spec §8.15's completion marker), keyed
    (queue, request_id). Created once; only `state` and `planned` move, by CAS."""

    queue: str
    request_id: str
    uri: str
    planned: tuple[str, ...]
    """Projects whose own build decides their fact at `uri`."""
    state: AnalysisState
    version: int = 1
