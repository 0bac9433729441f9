"""SQLite's queue calls on the event loop: waiting for the lock there, shared commits."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue import LeaseLostError, MessageQueue
from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.messagequeue.store import Fence, FetchSpec, Outcome, OutcomeKind

pytestmark = pytest.mark.anyio
SPEC = FetchSpec(batch_size=10, visibility_timeout_ms=60_000, max_attempts=3, dead_letter=True)


@pytest.fixture
def store(tmp_path: Path) -> SqlQueueStore:
    engine = create_engine(str(tmp_path / "queue.db"))
    migrations.upgrade(engine, migrations.queue_schema())
    return SqlQueueStore(engine)


def msg(key: str, message_id: str) -> OutgoingMessage:
    return OutgoingMessage(topic="t", partition_key=key, message_id=message_id, payload="{}")


def lease(store: SqlQueueStore, key: str) -> Fence:
    taken = store.try_acquire("g", "t", key, "me", 1000, stale_before_ms=0)
    assert taken is not None
    return Fence(consumer_group="g", topic="t", partition_key=key, owner="me", epoch=taken.epoch)


async def test_cycles_share_a_commit_and_a_lost_lease_fails_only_its_own(
    store: SqlQueueStore,
) -> None:
    store.publish([msg("a", "a1"), msg("a", "a2"), msg("b", "b1")], 1000)
    a, b = lease(store, "a"), lease(store, "b")
    first = await asyncio.gather(
        store.call(store.cycle, a, [], SPEC, 1000), store.call(store.cycle, b, [], SPEC, 1000)
    )
    assert [len(r.deliveries) for r in first] == [2, 1]
    # b is taken over; a's next cycle, in the same transaction as b's, still commits its acks.
    assert store.try_acquire("g", "t", "b", "other", 90_000, stale_before_ms=80_000) is not None
    acks = [Outcome(seq=1, kind=OutcomeKind.ACK), Outcome(seq=2, kind=OutcomeKind.ACK)]
    commits = store.transactions.commits
    done, lost = await asyncio.gather(
        store.call(store.cycle, a, acks, SPEC, 1001),
        store.call(store.cycle, b, [Outcome(seq=1, kind=OutcomeKind.ACK)], SPEC, 1001),
        return_exceptions=True,
    )
    assert not isinstance(done, BaseException) and done.watermark == 2
    assert isinstance(lost, LeaseLostError)
    assert store.transactions.commits == commits + 1  # both cycles in one transaction
    assert store.watermark("g", "t", "a") == 2
    assert store.watermark("g", "t", "b") == 0


async def test_a_publish_waits_on_the_loop_while_another_connection_holds_the_lock(
    store: SqlQueueStore, tmp_path: Path
) -> None:
    queue = MessageQueue(store)
    other = sqlite3.connect(tmp_path / "queue.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        publishing = asyncio.create_task(queue.publish("t", "p", "m1", {}))
        ticks = 0
        for _ in range(20):  # the loop keeps running while the publish waits for the lock
            await asyncio.sleep(0.005)
            ticks += 1
        assert ticks == 20 and not publishing.done()
        other.execute("COMMIT")
        assert await asyncio.wait_for(publishing, 5.0) is True
    finally:
        other.close()
    assert [p.messages for p in store.partitions("t")] == [1]
    await queue.close()


async def test_concurrent_publishes_share_transactions_and_keep_their_own_results(
    store: SqlQueueStore,
) -> None:
    queue = MessageQueue(store)
    assert await queue.publish("t", "p", "dup", {})
    ids = ["dup", *[f"m{i}" for i in range(9)]]
    stored = await asyncio.gather(*(queue.publish("t", "p", i, {}) for i in ids))
    assert stored == [False] + [True] * 9
    assert queue._group is not None and queue._group.transactions <= 3
    seqs = [d.message.seq for d in store.cycle(lease(store, "p"), [], SPEC, 1000).deliveries]
    assert seqs == list(range(1, 11))  # one per stored message, no gap for the duplicate
    await queue.close()
