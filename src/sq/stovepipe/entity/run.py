"""Where a Stovepipe build runs, kept in the database so that any instance can serve it."""

from __future__ import annotations

from dataclasses import dataclass

from sq.platform.build import BuildState


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildRun:
    """The runner's side of one build, keyed (queue, build_id).

    `owner` is the Stovepipe process whose runner runs the build; it renews `heartbeat_ms` while
    the build is unfinished, records the runner's final `state` as soon as it has it, and stops
    the build once `cancel_requested` is set by any instance. A run whose heartbeat went stale lost
    its runner (the process died): whoever polls it next builds it again and takes it over.
    """

    queue: str
    build_id: str
    owner: str
    state: BuildState
    reason: str = ""
    heartbeat_ms: int
    cancel_requested: bool = False
