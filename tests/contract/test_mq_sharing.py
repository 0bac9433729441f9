"""Partitions shared by the subscribers of one group (platform-spec §1.7)."""

from __future__ import annotations

import pytest

from sq.platform.messagequeue.store import QueueStore
from support.mq import Harness, settle

pytestmark = pytest.mark.anyio


async def test_drained_partitions_make_room_for_new_work_at_once(store: QueueStore) -> None:
    one = Harness(store)
    two = one.peer("s2")
    inboxes = [await h.consume("t", auto_ack=True) for h in (one, two)]

    async def advance(seconds: float) -> None:
        await settle(one.queue, two.queue)
        one.clock.advance(seconds)
        await settle(one.queue, two.queue)

    for i in range(4):
        await one.publish("t", f"p{i}", f"m{i}")
    for _ in range(12):
        await advance(1)
    assert sorted(d.message_id for i in inboxes for d in i.seen) == [f"m{i}" for i in range(4)]
    # Every partition is drained now, yet still leased (for two lease durations).
    for i in range(4, 8):
        await one.publish("t", f"p{i}", f"m{i}")
    for _ in range(3):
        await advance(1)
    assert len({d.message_id for i in inboxes for d in i.seen}) == 8
