"""This Stovepipe instance's share of the build runs (entity/run.py): it records in Stovepipe's
database what its runner starts and finishes, renews their heartbeat, and stops those any instance
asked to cancel, so that whichever instance holds a build's `buildsignal` delivery can conclude
it, and a build whose runner died is built again rather than failed."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable

import structlog

from sq.platform.build import BuildRequest, BuildRunner
from sq.platform.build import BuildStatus as RunnerStatus
from sq.platform.clock import Clock
from sq.stovepipe.entity.run import BuildRun
from sq.stovepipe.storage import SqlStorage

log = structlog.get_logger("sq.stovepipe.buildruns")


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class BuildRuns:
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
        if stale_s <= beat_s:
            raise ValueError("stale_s must exceed beat_s")
        self.storage = storage
        self.clock = clock
        self.owner = owner or instance_name()
        self.beat_s = beat_s
        self.stale_s = stale_s
        self.runner_of = runner_of
        self._task: asyncio.Task[None] | None = None

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

    def alive(self, run: BuildRun) -> bool:
        """Whether the run's owner still vouches for it (its heartbeat is recent)."""
        return self.clock.now_ms() - run.heartbeat_ms < self.stale_s * 1000

    async def beat(self) -> None:
        """Renew this instance's unfinished runs and stop those some instance asked to cancel."""
        for run in await asyncio.to_thread(self.storage.beat_runs, self.owner, self.clock.now_ms()):
            if self.runner_of is None:
                continue
            try:
                await self.runner_of(run.queue).cancel(run.build_id)
            except Exception:
                log.warning("cancelling a build failed", build=run.build_id, exc_info=True)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.beat()
            except Exception:
                log.warning("build heartbeat failed; retrying", exc_info=True)
            await self.clock.sleep(self.beat_s)
