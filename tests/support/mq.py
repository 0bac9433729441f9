"""A harness for message-queue tests: a fake clock, collecting handlers, and `settle()`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sq.platform.clock import FakeClock
from sq.platform.messagequeue import Delivery, MessageQueue, SubscriptionConfig
from sq.platform.messagequeue.store import QueueStore

SAFETY_SECONDS = 20.0
"""Upper bound for waiting on something that should happen at once; only a hang reaches it."""


class Inbox:
    """Collects deliveries; optionally acks each one on arrival."""

    def __init__(
        self, auto_ack: bool = False, decide: Callable[[Delivery], None] | None = None
    ) -> None:
        self.auto_ack = auto_ack
        self.decide = decide
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue()
        self.seen: list[Delivery] = []

    async def __call__(self, delivery: Delivery) -> None:
        self.seen.append(delivery)
        if self.decide is not None:
            self.decide(delivery)
        elif self.auto_ack:
            delivery.ack()
        await self.queue.put(delivery)

    async def next(self) -> Delivery:
        return await asyncio.wait_for(self.queue.get(), SAFETY_SECONDS)

    def take(self) -> list[Delivery]:
        """Everything delivered so far and not yet taken."""
        out = []
        while not self.queue.empty():
            out.append(self.queue.get_nowait())
        return out

    @property
    def ids(self) -> list[str]:
        return [d.message_id for d in self.seen]


def config(group: str = "g", **overrides: Any) -> SubscriptionConfig:
    base = SubscriptionConfig(consumer_group=group)
    retry = overrides.pop("retry", None)
    result = replace(base, **overrides)
    return replace(result, retry=retry) if retry is not None else result


class Harness:
    def __init__(self, store: QueueStore, clock: FakeClock | None = None, name: str = "s1") -> None:
        self.store = store
        self.clock = clock or FakeClock()
        self.queue = MessageQueue(store, clock=self.clock, subscriber_name=name)

    def peer(self, name: str) -> Harness:
        """Another subscriber process on the same store and clock."""
        return Harness(self.store, self.clock, name)

    async def publish(
        self,
        topic: str,
        key: str,
        message_id: str,
        payload: Any = None,
        metadata: dict[str, str] | None = None,
    ) -> bool:
        return await self.queue.publish(
            topic, key, message_id, payload if payload is not None else {}, metadata
        )

    async def consume(
        self,
        topic: str,
        group: str = "g",
        inbox: Inbox | None = None,
        auto_ack: bool = False,
        **overrides: Any,
    ) -> Inbox:
        inbox = inbox or Inbox(auto_ack=auto_ack)
        await self.queue.subscribe(topic, config(group, **overrides), inbox)
        return inbox

    async def settle(self) -> None:
        """Wait until every subscription and worker is waiting for work with nothing to write."""
        await settle(self.queue)

    async def advance(self, seconds: float) -> None:
        """Let everything under way finish, move time, and settle again."""
        await self.settle()
        self.clock.advance(seconds)
        await self.settle()

    async def crash(self) -> None:
        """Die without handing anything back: tasks are cancelled, nothing is written."""
        for sub in self.queue.subscriptions:
            sub._stopping = True
            tasks = [w.task for w in sub.workers.values() if w.task] + [sub._task]
            for worker in sub.workers.values():
                worker.lost = True  # skips the final flush, as a dead process would
            for task in tasks:
                if task is not None:
                    task.cancel()
            await asyncio.gather(*(t for t in tasks if t is not None), return_exceptions=True)
            sub._unlisten()
            sub._unlisten_all()
        self.queue.subscriptions.clear()


async def settle(*queues: MessageQueue, rounds: int = 20_000) -> None:
    quiet = 0
    for _ in range(rounds):
        await asyncio.sleep(0.0005)
        quiet = quiet + 1 if all(q.is_idle() for q in queues) else 0
        if quiet >= 3:
            return
    raise AssertionError("the queue did not settle")


def until(predicate: Callable[[], bool]) -> Callable[[], Any]:
    async def wait() -> None:
        for _ in range(40_000):
            if predicate():
                return
            await asyncio.sleep(0.0005)
        raise AssertionError("condition never became true")

    return wait
