"""The BuildRunner seam, shared by SubmitQueue and Stovepipe: one contract, one set of runners.

A build runs a command on an exact tree: `base`, then each layer's commits replayed in order (for
SubmitQueue: the changes a path assumes will land, then the head's change; for Stovepipe: none).
Implementations live beside this file: `fake` (outcome decided by labels, builds that tests can
hold and release) and `command` (a shell command in a temporary git worktree).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


class BuildState(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error"
    """The build could not run (no tree, the runner lost it): not a verdict on the code."""

    @property
    def finished(self) -> bool:
        return self not in (BuildState.PENDING, BuildState.RUNNING)


STOPPED_WITH_RUNNER = "stopped: its runner shut down"
"""The reason of a build a runner cancelled because its own process was stopping: no verdict, and
no cancel anybody asked for."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeLayer:
    name: str
    commits: tuple[str, ...]
    """Oldest first."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRequest:
    build_id: str
    """Chosen by the caller; triggering the same id again is a no-op that returns its status."""
    repository: str
    base: str
    layers: tuple[TreeLayer, ...] = ()
    command: str = ""
    baseline: str | None = None
    """For incremental builds: the last green commit, given to the command as SQ_BASELINE."""
    labels: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 1800.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildStatus:
    build_id: str
    state: BuildState
    reason: str = ""
    exit_code: int | None = None
    started_at_ms: int = 0
    finished_at_ms: int = 0
    log_path: str = ""


class UnknownBuildError(LookupError):
    """The runner has no build with that id (never triggered, or lost in a restart)."""


class BuildRunner(Protocol):
    async def trigger(self, request: BuildRequest) -> BuildStatus:
        """Start the build (idempotent on `build_id`); returns at once with its status."""

    async def status(self, build_id: str) -> BuildStatus:
        """The current status; raises UnknownBuildError for an id it does not know."""

    async def cancel(self, build_id: str) -> BuildStatus:
        """Stop the build (killing its whole process group); a finished build is left as is."""

    async def log(self, build_id: str) -> str:
        """The build's output so far (empty when there is none)."""


class BuildRunnerError(Exception):
    """The runner could not start a build or report on one (not a verdict on the code)."""
