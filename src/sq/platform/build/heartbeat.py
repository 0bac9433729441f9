"""What SubmitQueue's and Stovepipe's build runs share: an owner name per process, a heartbeat loop
that renews this instance's unfinished runs and stops those another instance asked to cancel, and
the rule that a run is alive while its owner's heartbeat is recent. Each domain keeps its runs in
its own database (the `RunStore` it passes in)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol

import structlog

from sq.platform.build import BuildRunner
from sq.platform.clock import Clock

log = structlog.get_logger("sq.platform.build.heartbeat")


class Run(Protocol):
    @property
    def queue(self) -> str: ...

    @property
    def build_id(self) -> str: ...

    @property
    def heartbeat_ms(self) -> int: ...


class RunStore(Protocol):
    def beat_runs(self, owner: str, now_ms: int) -> Sequence[Run]:
        """Renew `owner`'s unfinished runs; return those some instance asked to cancel."""


def instance_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunHeartbeat:
    def __init__(
        self,
        store: RunStore,
        clock: Clock,
        *,
        owner: str | None,
        beat_s: float,
        stale_s: float,
        runner_of: Callable[[str], BuildRunner] | None,
    ) -> None:
        if stale_s <= beat_s:
            raise ValueError("stale_s must exceed beat_s")
        self.clock = clock
        self.owner = owner or instance_name()
        self.beat_s = beat_s
        self.stale_s = stale_s
        self.runner_of = runner_of
        self._store = store
        self._task: asyncio.Task[None] | None = None

    def alive(self, run: Run) -> bool:
        """Whether the run's owner still vouches for it (its heartbeat is recent)."""
        return self.clock.now_ms() - run.heartbeat_ms < self.stale_s * 1000

    async def beat(self) -> None:
        """Renew this instance's unfinished runs and stop those some instance asked to cancel."""
        for run in await asyncio.to_thread(self._store.beat_runs, self.owner, self.clock.now_ms()):
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
