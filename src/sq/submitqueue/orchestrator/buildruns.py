"""This instance's share of the build runs: it records what its runners start and finish in the
orchestrator's database, renews their heartbeat, stops those any instance asked to cancel, and
signals a finished build at once, so that any instance can poll, cancel or conclude any build."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from sq.platform.build import BuildRequest, BuildRunner, BuildState
from sq.platform.build import BuildStatus as RunnerStatus
from sq.platform.build.heartbeat import RunHeartbeat
from sq.platform.clock import Clock
from sq.submitqueue.entity.build import BuildID, BuildRun
from sq.submitqueue.orchestrator.storage import OrchestratorStorage

log = structlog.get_logger("sq.orchestrator.buildruns")

Signal = Callable[[str, str, BuildState], Awaitable[None]]
"""(queue, build id, final state): tell the buildsignal stage a build finished."""


class BuildRuns(RunHeartbeat):
    def __init__(
        self,
        storage: OrchestratorStorage,
        clock: Clock,
        *,
        owner: str | None = None,
        beat_s: float = 5.0,
        stale_s: float = 20.0,
        signal: Signal | None = None,
        runner_of: Callable[[str], BuildRunner] | None = None,
    ) -> None:
        super().__init__(
            storage, clock, owner=owner, beat_s=beat_s, stale_s=stale_s, runner_of=runner_of
        )
        self.storage = storage
        self.signal = signal

    def started(self, queue: str, status: RunnerStatus) -> BuildRun:
        """The run of a build this instance's runner has just started, to be recorded."""
        return BuildRun(
            queue=queue,
            build_id=BuildID(status.build_id),
            owner=self.owner,
            state=status.state,
            reason=status.reason,
            heartbeat_ms=self.clock.now_ms(),
        )

    async def finished(self, request: BuildRequest, status: RunnerStatus) -> None:
        """The runner's completion callback: record the verdict, then signal it."""
        queue = request.labels.get("queue", "")
        try:
            mine = await asyncio.to_thread(
                self.storage.finish_run,
                queue,
                status.build_id,
                self.owner,
                status.state,
                status.reason,
                self.clock.now_ms(),
            )
            if mine and self.signal is not None:
                await self.signal(queue, status.build_id, status.state)
        except Exception:  # the poll reads the runner or the heartbeat's silence instead
            log.warning("recording a finished build failed", build=status.build_id, exc_info=True)
