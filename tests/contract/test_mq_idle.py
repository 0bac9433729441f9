"""Idle partitions cost (almost) nothing, and work still finds its way to them (platform §4)."""

from __future__ import annotations

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
