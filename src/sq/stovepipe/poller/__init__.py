"""The built-in poller (the reference leaves it outside): ingest each queue's head on a cadence.

Ingest is idempotent on (queue, head), so polling an unchanged head costs one `ls-remote`. A failed
poll (unreachable repository, missing ref) is remembered for the status query and retried at the
next tick: it never stops the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

import structlog

from sq.platform.clock import Clock
from sq.stovepipe.controller.ingest import IngestController

log = structlog.get_logger("sq.stovepipe.poller")


@dataclass(slots=True)
class PollState:
    last_poll_ms: int = 0
    last_request_id: str = ""
    last_error: str = ""


class Poller:
    def __init__(
        self,
        ingest: IngestController,
        queues: Sequence[tuple[str, float]],
        clock: Clock,
    ) -> None:
        self.ingest = ingest
        self.queues = list(queues)
        self.clock = clock
        self.states: dict[str, PollState] = {name: PollState() for name, _ in queues}
        self._tasks: list[asyncio.Task[None]] = []

    async def poll_once(self, queue: str) -> None:
        state = self.states.setdefault(queue, PollState())
        state.last_poll_ms = self.clock.now_ms()
        try:
            request = await self.ingest.ingest(queue)
        except Exception as exc:  # noqa: BLE001  a poll failure is reported, never fatal
            if state.last_error != str(exc):
                log.warning("poll failed", queue=queue, error=str(exc))
            state.last_error = str(exc) or type(exc).__name__
            return
        state.last_request_id, state.last_error = request.id, ""

    async def _loop(self, queue: str, interval_s: float) -> None:
        while True:
            await self.poll_once(queue)
            await self.clock.sleep(interval_s)

    async def start(self) -> None:
        for name, interval in self.queues:
            self._tasks.append(asyncio.create_task(self._loop(name, interval)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
