"""A harness for message-queue tests: a fake clock, collecting handlers, and `settle()`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from sq.platform.clock import FakeClock
from sq.platform.messagequeue import Delivery, MessageQueue, SubscriptionConfig
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.messagequeue.model import dlq_topic
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
        self.dead_letters_expected = 0
        """How many dead letters the test expects so far; `settle` fails on more."""

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

    async def settle(self, dead_letters: int = 0) -> None:
        """Wait for quiescence (see `settle` below). `dead_letters` more are expected from now on;
        a dead letter beyond every one expected so far fails the test."""
        self.dead_letters_expected += dead_letters
        await settle(self.queue, dead_letters_allowed=self.dead_letters_expected)

    async def advance(self, seconds: float, dead_letters: int = 0) -> None:
        """Let everything under way finish, move time, and settle again."""
        await self.settle()
        self.clock.advance(seconds)
        await self.settle(dead_letters)

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


class UnexpectedDeadLetterError(AssertionError):
    """A message was dead-lettered that the test did not say it expects."""


def dead_letters(*queues: MessageQueue) -> list[str]:
    """The dead letters of every topic the queues subscribe to, as `topic:message_id (error)`
    (on an SQL store, which tells only how many, as `topic/partition#seq`)."""
    store = queues[0].store
    topics = sorted({dlq_topic(s.topic) for q in queues for s in q.subscriptions})
    if isinstance(store, MemoryQueueStore):
        return [
            f"{m.topic}:{m.message_id} ({m.last_error})"
            for topic in topics
            for m in store.messages(topic)
        ]
    return [
        f"{p.topic}/{p.partition_key}#{seq}"
        for topic in topics
        for p in store.partitions(topic)
        for seq in range(1, p.last_seq + 1)
    ]


def _due(queues: tuple[MessageQueue, ...]) -> list[str]:
    """Work a live worker holds and could be handed now, as `topic/group/partition`. A due
    partition nobody holds waits for a discovery tick (the fair share may keep it out), and a
    peer process hears of another's publish at its next poll: both are times in the future like
    any other, so peers are settled on their subscribers' word alone, as are the SQL stores."""
    store = queues[0].store
    if not isinstance(store, MemoryQueueStore) or len({id(q.waker) for q in queues}) > 1:
        return []
    now = queues[0].clock.now_ms()
    return sorted(
        f"{sub.topic}/{sub.group}/{key}"
        for q in queues
        for sub in q.subscriptions
        for key in store.due(sub.group, sub.topic, now, sub.config.batch_size)
        if key in sub.workers
    )


def _published(queues: tuple[MessageQueue, ...]) -> int:
    store = queues[0].store
    if not isinstance(store, MemoryQueueStore):
        return 0
    return sum(p.last_seq for topic in store.topics() for p in store.partitions(topic))


async def settle(
    *queues: MessageQueue,
    rounds: int = 20_000,
    dead_letters_allowed: int | None = None,
    unheard: bool = False,
) -> None:
    """Wait for quiescence at the present (fake) time: every subscription and worker waiting for
    work with nothing to write, no handler running, and nothing stored that a live worker could be
    handed now. Messages hidden until a later time (held by a test's inbox, retried, postponed)
    may remain: moving the clock is the test's call. With `dead_letters_allowed`, more dead
    letters than that on the subscribed topics fail the test. With `unheard`, messages due now may
    remain too: another process published them and these queues learn of it only at a later
    discovery tick."""
    quiet, marker, due = 0, -1, []
    for _ in range(rounds):
        # Store calls run on threads: give them real time, then look again.
        await asyncio.sleep(0.0005)
        if not all(q.is_idle() for q in queues):
            quiet = 0
            continue
        due = [] if unheard else _due(queues)
        published = _published(queues)
        quiet = quiet + 1 if not due and published == marker else 0
        marker = published
        if quiet >= 2:
            break
    else:
        raise AssertionError(f"the queue did not settle; due now: {due}")
    if dead_letters_allowed is not None:
        letters = dead_letters(*queues)
        if len(letters) > dead_letters_allowed:
            raise UnexpectedDeadLetterError(
                f"{len(letters)} dead letters, {dead_letters_allowed} expected: "
                + ", ".join(letters)
            )


def until(predicate: Callable[[], bool]) -> Callable[[], Any]:
    async def wait() -> None:
        for _ in range(40_000):
            if predicate():
                return
            await asyncio.sleep(0.0005)
        raise AssertionError("condition never became true")

    return wait
