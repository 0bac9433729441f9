"""Idle partitions cost (almost) nothing, and work still finds its way to them (platform §4)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest

from sq.platform.clock import FakeClock
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.store import QueueStore
from support.mq import Inbox, config, settle

pytestmark = pytest.mark.anyio


async def test_an_idle_partition_parks_and_discovery_wakes_it_for_another_process(
    store: QueueStore,
) -> None:
    clock = FakeClock()
    polls: Counter[str] = Counter()

    def count(kind: str, topic: str, group: str, partition_key: str) -> None:
        if kind == "poll":
            polls[partition_key] += 1

    reader = MessageQueue(store, clock=clock, subscriber_name="r", on_signal=count)
    other_process = MessageQueue(store, clock=clock, subscriber_name="w")  # its own waker
    inbox = Inbox(auto_ack=True)
    await reader.subscribe("t", config("g"), inbox)

    async def advance(seconds: int) -> None:
        # `unheard`: the other process's publish is due at once but reaches the parked reader
        # only at a discovery tick, which is what this test is about.
        for _ in range(seconds):
            await settle(reader, unheard=True)
            clock.advance(1)
        await settle(reader, unheard=True)

    await reader.publish("t", "p", "m1", {})
    await settle(reader)
    assert inbox.ids == ["m1"]

    polls.clear()
    await advance(62)  # 124 poll intervals of 500 ms
    assert polls["p"] <= 10, "an idle worker's backstop poll backs off"

    await other_process.publish("t", "p", "m2", {})  # wakes nobody in the reader's process
    # Discovery backs off to 8 s at most, then nudges the parked worker; its own backstop poll
    # is 30 s away by now.
    await advance(9)
    assert inbox.ids == ["m1", "m2"]

    await reader.publish("t", "q", "m3", {})  # a new partition, named by the publish
    await settle(reader)
    assert inbox.ids == ["m1", "m2", "m3"]
    await reader.close()
    await other_process.close()


async def test_a_partition_with_a_message_now_and_then_keeps_its_worker_and_backstop(
    store: QueueStore,
) -> None:
    """A partition that gets a message now and then (a request's `log` partition while the
    request waits at depth) keeps its worker, and polls at its grown backstop after each message
    rather than again from the poll interval: its publishes wake it, and the polls between them
    find nothing."""
    clock = FakeClock()
    polls: Counter[str] = Counter()

    def count(kind: str, topic: str, group: str, partition_key: str) -> None:
        if kind == "poll":
            polls[partition_key] += 1

    queue = MessageQueue(store, clock=clock, subscriber_name="r", on_signal=count)
    inbox = Inbox(auto_ack=True)
    await queue.subscribe("t", config("g"), inbox)

    async def advance(seconds: int) -> None:
        for _ in range(seconds):
            await settle(queue)
            clock.advance(1)
        await settle(queue)

    await queue.publish("t", "p", "m1", {})
    await advance(40)  # the backstop grows to the lease duration (30 s)
    worker = queue.subscriptions[0].workers["p"]
    # A message every 10 s for 80 s, each woken by its publish: longer than a drained partition
    # is kept (two lease durations), but this one is not drained.
    for n in range(2, 10):
        await queue.publish("t", "p", f"m{n}", {})
        await settle(queue)
        polls.clear()
        await advance(10)
        # From the poll interval (500 ms) it would be 0.5, 1.5, 3.5 and 7.5 s: four polls.
        assert polls["p"] <= 1, f"after m{n}: {polls['p']} polls in 10 s"
    assert inbox.ids == [f"m{n}" for n in range(1, 10)]
    assert queue.subscriptions[0].workers["p"] is worker, (
        "the partition was given up and taken again"
    )
    await queue.close()


async def test_subscriptions_started_together_do_not_tick_together(store: QueueStore) -> None:
    """Each subscription's lease tick (renewals, heartbeat, purge) keeps a phase of its own, so
    a process's subscriptions do not all queue their storage calls at the same instant."""
    clock = FakeClock()
    start = clock.now_ms()
    beats: dict[str, list[int]] = {}
    heartbeat = store.heartbeat

    def recorded(group: str, topic: str, owner: str, now_ms: int) -> None:
        beats.setdefault(topic, []).append(now_ms)
        heartbeat(group, topic, owner, now_ms)

    store.heartbeat = recorded  # type: ignore[method-assign]
    queue = MessageQueue(store, clock=clock, subscriber_name="s")
    topics = [f"t{i}" for i in range(8)]
    for topic in topics:
        await queue.subscribe(topic, config("g"), Inbox(auto_ack=True))
    for _ in range(250):  # 25 s in steps of 0.1 s
        await settle(queue)
        clock.advance(0.1)
    await settle(queue)
    seconds = {topic: [(t - start) // 100 for t in beats[topic]] for topic in topics}
    assert all(s[0] == 0 for s in seconds.values())  # at once on start
    second = [s[1] for s in seconds.values()]
    assert len(set(second)) > 4, second  # then apart
    assert all(50 <= t <= 100 for t in second), second  # early, never late
    assert all(b - a == 100 for s in seconds.values() for a, b in itertools.pairwise(s[1:]))
    await queue.close()
