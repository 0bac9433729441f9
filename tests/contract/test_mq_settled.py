"""Finished partitions at the store: collected, settled, skipped by discovery, woken by a publish.

Services partition some topics by a key used once (a batch id, a request id), so a topic gathers
partitions nobody will read again. Collection removes their messages once every group has passed
them and the retention has run out; it then settles the partition, and discovery, which runs every
second in every subscriber, reads only partitions that are not settled.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql import store as sql_store
from sq.platform.messagequeue.store import (
    Fence,
    FetchSpec,
    Outcome,
    OutcomeKind,
    QueueStore,
)

TOPIC = "builds"
FETCH = FetchSpec(batch_size=10, visibility_timeout_ms=1000, max_attempts=5, dead_letter=True)


def _publish(store: QueueStore, key: str, message_id: str, now_ms: int = 0) -> None:
    message = OutgoingMessage(topic=TOPIC, partition_key=key, message_id=message_id, payload="{}")
    assert store.publish([message], now_ms) == [True]


def _consume_all(store: QueueStore, group: str, key: str, now_ms: int = 0) -> list[str]:
    """Take the lease, read and ack everything, write the acks, release the lease."""
    lease = store.try_acquire(group, TOPIC, key, f"{group}-owner", now_ms, now_ms - 30_000)
    assert lease is not None
    fence = Fence(
        consumer_group=group,
        topic=TOPIC,
        partition_key=key,
        owner=f"{group}-owner",
        epoch=lease.epoch,
    )
    got = store.cycle(fence, [], FETCH, now_ms).deliveries
    acks = [Outcome(seq=f.message.seq, kind=OutcomeKind.ACK) for f in got]
    store.cycle(fence, acks, None, now_ms)
    store.release(fence)
    return [f.message.message_id for f in got]


def test_a_finished_partition_is_settled_and_no_longer_discovered(store: QueueStore) -> None:
    for key in ("b1", "b2", "b3"):
        _publish(store, key, f"build-{key}")
    assert _consume_all(store, "g", "b1") == ["build-b1"]
    assert _consume_all(store, "g", "b2") == ["build-b2"]
    assert store.discover("g", TOPIC) == ["b3"]
    # A group that never read the topic sees every partition with something stored.
    assert store.discover("late", TOPIC) == ["b1", "b2", "b3"]

    assert store.gc_topic(TOPIC, created_before_ms=1) == 2
    assert store.discover("g", TOPIC) == ["b3"]
    # b1 and b2 hold nothing now and nobody is behind on them: settled, even for a new group.
    assert store.discover("late", TOPIC) == ["b3"]
    assert [p.messages for p in store.partitions(TOPIC)] == [0, 0, 1]


def test_a_publish_wakes_a_settled_partition_with_a_fresh_sequence_number(
    store: QueueStore,
) -> None:
    _publish(store, "b1", "first")
    _consume_all(store, "g", "b1")
    store.gc_topic(TOPIC, created_before_ms=1)
    assert store.discover("g", TOPIC) == []

    _publish(store, "b1", "second", now_ms=5)
    assert store.discover("g", TOPIC) == ["b1"]
    assert store.discover("late", TOPIC) == ["b1"]
    assert _consume_all(store, "g", "b1", now_ms=5) == ["second"]
    assert [(p.last_seq, p.messages) for p in store.partitions(TOPIC)] == [(2, 1)]


def test_a_partition_with_a_message_a_group_has_not_passed_is_not_settled(
    store: QueueStore,
) -> None:
    _publish(store, "b1", "m1")
    _publish(store, "b1", "m2")
    _consume_all(store, "fast", "b1")
    lease = store.try_acquire("slow", TOPIC, "b1", "slow-owner", 0, -30_000)
    assert lease is not None
    fence = Fence(
        consumer_group="slow",
        topic=TOPIC,
        partition_key="b1",
        owner="slow-owner",
        epoch=lease.epoch,
    )
    first = store.cycle(fence, [], FETCH, 0).deliveries[0]
    store.cycle(fence, [Outcome(seq=first.message.seq, kind=OutcomeKind.ACK)], None, 0)

    assert store.gc_topic(TOPIC, created_before_ms=1) == 1  # m1: both groups passed it
    assert store.discover("slow", TOPIC) == ["b1"]
    assert store.discover("fast", TOPIC) == []
    assert [p.messages for p in store.partitions(TOPIC)] == [1]


def test_only_held_leases_are_listed_as_held(store: QueueStore) -> None:
    for key in ("a", "b"):
        _publish(store, key, "m")
    _consume_all(store, "g", "a")  # released
    assert store.try_acquire("g", TOPIC, "b", "owner", 0, -30_000) is not None
    assert [(x.partition_key, x.owner) for x in store.leases("g", TOPIC)] == [
        ("a", ""),
        ("b", "owner"),
    ]
    assert [(x.partition_key, x.owner) for x in store.leases("g", TOPIC, held=True)] == [
        ("b", "owner")
    ]


def test_a_publish_between_reading_and_settling_keeps_the_partition_unsettled(
    store: QueueStore, backend: str
) -> None:
    if backend == "memory":
        pytest.skip("the in-memory store settles under one lock; there is no window to race")
    assert isinstance(store, sql_store.SqlQueueStore)
    _publish(store, "b1", "first")
    _consume_all(store, "g", "b1")
    with store.engine.begin() as conn:  # collect without settling
        conn.execute(sql_store.COLLECT, {"topic": TOPIC, "key": "b1", "low": 1, "before": 1})
    with store.engine.connect() as conn:
        seen = [
            {"topic": TOPIC, "key": r.partition_key, "seq": r.last_seq}
            for r in conn.execute(sql_store._settled_candidates(TOPIC))
        ]
    assert seen == [{"topic": TOPIC, "key": "b1", "seq": 1}]
    _publish(store, "b1", "second")  # lands after the read, before the update
    with store.engine.begin() as conn:
        assert conn.execute(sql_store.SETTLE, seen).rowcount == 0
    assert store.discover("g", TOPIC) == ["b1"]
    with store.engine.connect() as conn:
        settled = conn.execute(sa.text("SELECT settled_seq FROM mq_partitions")).scalar_one()
    assert settled == 0


def test_a_collection_takes_a_bounded_number_of_partitions(
    store: QueueStore, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if backend == "memory":
        pytest.skip("the in-memory store has no event loop to keep free")
    monkeypatch.setattr(sql_store, "PARTITIONS_PER_COLLECTION", 2)
    for key in ("b1", "b2", "b3"):
        _publish(store, key, f"build-{key}")
        _consume_all(store, "g", key)
    assert store.gc_topic(TOPIC, created_before_ms=1) == 2
    assert store.gc_topic(TOPIC, created_before_ms=1) == 1
    assert store.gc_topic(TOPIC, created_before_ms=1) == 0
    assert [p.messages for p in store.partitions(TOPIC)] == [0, 0, 0]
    assert store.discover("late", TOPIC) == []
