"""Window controllers: a partition's fetched window in one call, one message at a time on error."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest
from prometheus_client import REGISTRY

from sq.platform.errs import UserError
from sq.platform.messagequeue import Delivery, RetryPolicy
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.messagequeue.store import CycleResult, Fence, FetchSpec, Outcome
from sq.platform.pipeline import Stage, StageContext, construct
from support.mq import Harness

pytestmark = pytest.mark.anyio


@dataclass
class Windowed:
    """Takes windows whole unless one holds a message id in `breaks`; `process` raises for the
    ids in `bad` and holds the ids in `holds`."""

    name: str = "windowed"
    windows: list[list[str]] = field(default_factory=list)
    alone: list[str] = field(default_factory=list)
    breaks: set[str] = field(default_factory=set)
    bad: set[str] = field(default_factory=set)
    holds: dict[str, float] = field(default_factory=dict)

    async def process(self, delivery: Delivery) -> None:
        self.alone.append(delivery.message_id)
        if delivery.message_id in self.bad:
            raise UserError(f"{delivery.message_id} is bad")
        if delivery.message_id in self.holds:
            delivery.hold(self.holds.pop(delivery.message_id))

    async def process_window(self, deliveries: Sequence[Delivery]) -> None:
        ids = [d.message_id for d in deliveries]
        self.windows.append(ids)
        for delivery in deliveries:
            delivery.hold(60)  # a failed window's holds are forgotten
        if self.breaks.intersection(ids):
            raise RuntimeError("the window's write failed")
        for delivery in deliveries:
            delivery.clear_hold()
            if delivery.message_id in self.holds:
                delivery.hold(self.holds.pop(delivery.message_id))


@dataclass
class Plain:
    name: str = "dlq"
    seen: list[str] = field(default_factory=list)

    async def process(self, delivery: Delivery) -> None:
        self.seen.append(delivery.message_id)


async def started(
    controller: Windowed, dlq: Plain, ids: Sequence[str], h: Harness | None = None
) -> Harness:
    """The stage's messages published on one partition before it starts consuming."""
    h = h or Harness(MemoryQueueStore())

    def new(_: object, ctx: StageContext) -> Windowed:
        return controller

    stage = Stage(
        key="intake",
        consumer_group="g",
        new=new,
        dlq=lambda _d, _c: dlq,
        config={"retry": RetryPolicy(max_attempts=1)},
    )
    pipeline = construct(h.queue, None, [stage])
    for message_id in ids:
        await h.publish("intake", "p", message_id)
    await pipeline.start()
    return h


async def test_a_fetched_window_is_handled_in_one_call() -> None:
    controller, dlq = Windowed(), Plain()
    h = await started(controller, dlq, [f"m{i}" for i in range(5)])
    await h.settle()
    assert controller.windows == [[f"m{i}" for i in range(5)]]
    assert controller.alone == []
    assert h.store.watermark("g", "intake", "p") == 5
    await h.queue.close()


async def test_a_window_that_fails_is_handled_one_message_at_a_time() -> None:
    """The window's write fails; alone, one message is bad and dead-lettered, the rest land."""
    controller, dlq = Windowed(breaks={"m2"}, bad={"m2"}), Plain()
    labels = {"stage": "windowed", "consumer_group": "g"}
    before = REGISTRY.get_sample_value("sq_stage_windows_failed_total", labels) or 0.0
    h = await started(controller, dlq, ["m0", "m1", "m2", "m3"])
    await h.settle(dead_letters=1)
    assert REGISTRY.get_sample_value("sq_stage_windows_failed_total", labels) == before + 1
    assert controller.windows == [["m0", "m1", "m2", "m3"]]
    assert controller.alone == ["m0", "m1", "m2", "m3"]
    assert dlq.seen == ["g:m2"]
    assert h.store.watermark("g", "intake", "p") == 4
    await h.queue.close()


async def test_a_hold_asked_for_in_a_window_is_kept_and_a_failed_windows_are_not() -> None:
    controller, dlq = Windowed(holds={"m1": 5.0}), Plain()
    h = await started(controller, dlq, ["m0", "m1", "m2"])
    await h.settle()
    assert controller.windows == [["m0", "m1", "m2"]]
    assert h.store.watermark("g", "intake", "p") == 1  # m1 waits until it is due (m2 is done)
    await h.advance(5.0)
    assert controller.alone == ["m1"]
    assert h.store.watermark("g", "intake", "p") == 3

    failing, dlq = Windowed(breaks={"n0"}), Plain()
    h2 = await started(failing, dlq, ["n0", "n1"])
    await h2.settle()
    assert failing.alone == ["n0", "n1"]  # no hold of the failed window survived
    assert h2.store.watermark("g", "intake", "p") == 2
    await h.queue.close()
    await h2.queue.close()


class StoppedWhileFetching(MemoryQueueStore):
    """Calls `on_fetch` (a stop of every worker) as its first non-empty window is fetched."""

    def __init__(self) -> None:
        super().__init__()
        self.on_fetch: list[Callable[[], None]] = []

    def cycle(
        self, fence: Fence, outcomes: Sequence[Outcome], fetch: FetchSpec | None, now_ms: int
    ) -> CycleResult:
        result = super().cycle(fence, outcomes, fetch, now_ms)
        if result.deliveries and self.on_fetch:
            self.on_fetch.pop()()
        return result


async def test_a_window_fetched_as_the_stop_began_is_handed_back_whole() -> None:
    """Nothing of it is started: a stop waits for a window under way, not one not begun."""
    store, controller = StoppedWhileFetching(), Windowed()
    h = Harness(store)

    def stop_every_worker() -> None:
        for subscription in h.queue.subscriptions:
            for worker in subscription.workers.values():
                worker.begin_stop()

    store.on_fetch = [stop_every_worker]
    await started(controller, Plain(), ["m0", "m1", "m2"], h)
    for _ in range(200):  # until the window is fetched (the stop begins there), then a little
        await asyncio.sleep(0.005)
        if not store.on_fetch:
            break
    await asyncio.sleep(0.05)
    assert not store.on_fetch
    await h.queue.close()
    assert controller.windows == [] and controller.alone == []
    assert store.watermark("g", "intake", "p") == 0
