"""This Stovepipe instance's share of the build runs (entity/run.py): it records in Stovepipe's
database what its runner starts and finishes, renews their heartbeat, and stops those any instance
asked to cancel, so that whichever instance holds a build's `buildsignal` delivery can conclude
it, and a build whose runner died is built again rather than failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from sq.platform.build import BuildRequest, BuildRunner
from sq.platform.build import BuildStatus as RunnerStatus
from sq.platform.build.heartbeat import RunHeartbeat
from sq.platform.clock import Clock
from sq.stovepipe.entity.run import BuildRun
from sq.stovepipe.storage import SqlStorage

log = structlog.get_logger("sq.stovepipe.buildruns")


class BuildRuns(RunHeartbeat):
    def __init__(
        self,
        storage: SqlStorage,
        clock: Clock,
        *,
        owner: str | None = None,
        beat_s: float = 5.0,
        stale_s: float = 20.0,
        runner_of: Callable[[str], BuildRunner] | None = None,
    ) -> None:
        super().__init__(
            storage, clock, owner=owner, beat_s=beat_s, stale_s=stale_s, runner_of=runner_of
        )
        self.storage = storage

    async def started(self, queue: str, status: RunnerStatus) -> None:
        """Record (or take over) the run of a build this instance's runner has just started."""
        run = BuildRun(
            queue=queue,
            build_id=status.build_id,
            owner=self.owner,
            state=status.state,
            reason=status.reason,
            heartbeat_ms=self.clock.now_ms(),
        )
        await asyncio.to_thread(self.storage.record_run, run)

    async def finished(self, request: BuildRequest, status: RunnerStatus) -> None:
        """The runner's completion callback (and the poll's, for runners without one): record
        the verdict where every instance reads it."""
        await self.conclude(request.labels.get("queue", ""), status)

    async def conclude(self, queue: str, status: RunnerStatus) -> None:
        if not status.state.finished:
            return
        try:
            await asyncio.to_thread(
                self.storage.finish_run,
                queue,
                status.build_id,
                self.owner,
                status.state,
                status.reason,
                self.clock.now_ms(),
            )
        except Exception:  # the poll reads the runner or the heartbeat's silence instead
            log.warning("recording a finished build failed", build=status.build_id, exc_info=True)

    def mine(self, run: BuildRun) -> bool:
        return run.owner == self.owner
