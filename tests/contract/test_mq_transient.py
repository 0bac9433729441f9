"""A transient storage error costs a partition a short wait, not its lease or its acks."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from sq.platform.messagequeue.store import CycleResult, QueueStore
from support.mq import SAFETY_SECONDS, Harness

pytestmark = pytest.mark.anyio
T = TypeVar("T")


class FlakyCycles:
    """The store, except that the cycles numbered in `fail_on` fail as a busy database would."""

    def __init__(self, inner: QueueStore, fail_on: set[int]) -> None:
        self.inner = inner
        self.fail_on = fail_on
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await self.inner.call(fn, *args, **kwargs)

    def cycle(self, *args: Any) -> CycleResult:
        self.calls += 1
        if self.calls in self.fail_on:
            raise sqlite3.OperationalError("database is locked")
        return self.inner.cycle(*args)


async def test_a_failed_cycle_is_retried_with_its_acks(store: QueueStore) -> None:
    flaky = FlakyCycles(store, fail_on={2, 3})
    h = Harness(flaky)  # type: ignore[arg-type]
    for i in range(6):
        await h.publish("t", "p", f"m{i}")
    inbox = await h.consume("t", auto_ack=True, batch_size=2)
    loop = asyncio.get_running_loop()
    give_up = loop.time() + SAFETY_SECONDS
    # The second and third cycles carry the acks of the first window and fail; the worker waits
    # 0.05 s, then 0.1 s of the queue's clock, and writes them with its next cycle.
    while len(inbox.seen) < 6 and loop.time() < give_up:
        h.clock.advance(0.05)
        await asyncio.sleep(0.005)
    await h.settle()
    assert flaky.calls > 3
    assert [(d.message_id, d.attempt) for d in inbox.seen] == [(f"m{i}", 1) for i in range(6)]
    assert store.watermark("g", "t", "p") == 6
    await h.queue.close()
