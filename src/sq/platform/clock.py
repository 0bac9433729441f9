"""Time as a seam: the real clock, and a fake one that tests advance by hand."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Awaitable
from typing import Protocol


class Clock(Protocol):
    """Where code gets the time and waits.

    `now_ms` is wall-clock epoch milliseconds (what is stored). `sleep` returns an awaitable that
    finishes `seconds` of this clock's time after the call (not after the first await), and may end
    early only by cancellation.
    """

    def now_ms(self) -> int: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...


class SystemClock:
    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def sleep(self, seconds: float) -> Awaitable[None]:
        return asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that moves only when a test calls `advance`.

    Sleepers wake in deadline order as time passes them; a deadline is fixed when `sleep` is called.
    `sleep(0)` yields once and returns, so a polling loop still gives other tasks a turn.
    """

    def __init__(self, start_ms: int = 1_700_000_000_000) -> None:
        self._now_ms = start_ms
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._ids = itertools.count()

    def now_ms(self) -> int:
        return self._now_ms

    def sleep(self, seconds: float) -> Awaitable[None]:
        if seconds <= 0:
            return asyncio.sleep(0)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        deadline = self._now_ms + max(1, round(seconds * 1000))
        heapq.heappush(self._sleepers, (deadline, next(self._ids), future))
        return future

    def advance(self, seconds: float) -> None:
        """Move time forward and wake every sleeper whose deadline has passed."""
        self._now_ms += round(seconds * 1000)
        while self._sleepers and self._sleepers[0][0] <= self._now_ms:
            _, _, future = heapq.heappop(self._sleepers)
            if not future.done():
                future.set_result(None)

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())
