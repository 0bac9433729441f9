"""The reference's hazards, designed out (platform-spec §6.10, §7.2), plus the counter (§6.7)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sq.platform.counter import Counter
from sq.platform.messagequeue import LeaseLostError, SubscriptionConfig
from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.messagequeue.store import Fence, FetchSpec, Outcome, OutcomeKind, QueueStore

SPEC = FetchSpec(batch_size=10, visibility_timeout_ms=60_000, max_attempts=3, dead_letter=True)


def msg(message_id: str, key: str = "p") -> OutgoingMessage:
    return OutgoingMessage(topic="t", partition_key=key, message_id=message_id, payload="{}")


def fence(owner: str, epoch: int) -> Fence:
    return Fence(consumer_group="g", topic="t", partition_key="p", owner=owner, epoch=epoch)


def test_a_stale_owner_cannot_ack_or_move_the_watermark(store: QueueStore) -> None:
    store.publish([msg("m1"), msg("m2")], 1000)
    first = store.try_acquire("g", "t", "p", "a", 1000, stale_before_ms=0)
    assert first is not None
    fetched = store.cycle(fence("a", first.epoch), [], SPEC, 1000).deliveries
    assert [f.message.message_id for f in fetched] == ["m1", "m2"]
    assert store.try_acquire("g", "t", "p", "b", 2000, stale_before_ms=500) is None
    taken = store.try_acquire("g", "t", "p", "b", 40_000, stale_before_ms=10_000)
    assert taken is not None
    assert taken.epoch == first.epoch + 1
    with pytest.raises(LeaseLostError):
        store.cycle(fence("a", first.epoch), [Outcome(seq=1, kind=OutcomeKind.ACK)], SPEC, 40_001)
    with pytest.raises(LeaseLostError):
        store.extend(fence("a", first.epoch), 1, 99_999)
    assert store.watermark("g", "t", "p") == 0
    assert store.renew([fence("a", first.epoch)], 40_002) == ["p"]
    # The new owner sees both messages again once their visibility lapses.
    again = store.cycle(fence("b", taken.epoch), [], SPEC, 61_001).deliveries
    assert [(f.message.message_id, f.attempt) for f in again] == [("m1", 2), ("m2", 2)]


def test_a_released_lease_is_taken_with_a_higher_epoch(store: QueueStore) -> None:
    store.publish([msg("m1")], 1000)
    held = store.try_acquire("g", "t", "p", "a", 1000, stale_before_ms=0)
    assert held is not None
    store.release(fence("a", held.epoch))
    store.release(fence("a", held.epoch))
    again = store.try_acquire("g", "t", "p", "b", 1001, stale_before_ms=0)
    assert again is not None
    assert again.epoch > held.epoch


def test_max_attempts_below_one_is_rejected() -> None:
    from sq.platform.messagequeue import RetryPolicy

    with pytest.raises(ValueError, match="max_attempts"):
        SubscriptionConfig(consumer_group="g", retry=RetryPolicy(max_attempts=0))
    with pytest.raises(ValueError, match="batch_size"):
        SubscriptionConfig(consumer_group="g", batch_size=0)
    with pytest.raises(ValueError, match="shorter than lease_duration"):
        SubscriptionConfig(consumer_group="g", lease_renewal_interval_ms=30_000)


def test_publishers_racing_on_one_partition_commit_in_sequence_order(engine: Engine | None) -> None:
    """Hold the first publisher's transaction open; the second must wait, not overtake it."""
    if engine is None or engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL lets two publishers' transactions overlap (SQLite serializes)")
    store = SqlQueueStore(engine)
    second_done = threading.Event()
    with engine.connect() as conn:
        tx = conn.begin()
        store.publish_in(conn, [msg("low")], 1000)
        with ThreadPoolExecutor(1) as pool:
            future = pool.submit(lambda: (store.publish([msg("high")], 1001), second_done.set()))
            assert not second_done.wait(0.5), "the second publish must wait for the first commit"
            assert store.discover("g", "t") == []
            tx.commit()
            future.result(timeout=30)
    held = store.try_acquire("g", "t", "p", "a", 2000, stale_before_ms=0)
    assert held is not None
    got = store.cycle(fence("a", held.epoch), [], SPEC, 2000).deliveries
    assert [(f.message.message_id, f.message.seq) for f in got] == [("low", 1), ("high", 2)]


def test_the_counter_mints_contiguous_unique_ids(engine: Engine | None) -> None:
    if engine is None:
        pytest.skip("the counter lives in a SQL database")
    counter = Counter(engine)
    assert [counter.next("q1", "request") for _ in range(3)] == [1, 2, 3]
    assert counter.next("q1", "batch") == 1
    assert counter.next("q2", "request") == 1
    assert counter.peek("q1", "request") == 3
    with ThreadPoolExecutor(10) as pool:
        values = list(pool.map(lambda _: counter.next("q3", "request"), range(100)))
    assert sorted(values) == list(range(1, 101))
    assert counter.peek("q1", "request") == 3
    with engine.connect() as conn:
        assert conn.execute(sa.text("select count(*) from counters")).scalar() == 4


def test_the_counter_hands_out_a_range_in_the_callers_transaction(engine: Engine | None) -> None:
    if engine is None:
        pytest.skip("the counter lives in a SQL database")
    counter = Counter(engine)
    assert counter.next("q", "batch") == 1
    with engine.begin() as conn:
        assert counter.take(conn, "q", "batch", 3) == 2
    assert counter.next("q", "batch") == 5
    with engine.connect() as conn:
        rolled_back = conn.begin()
        assert counter.take(conn, "q", "batch", 10) == 6
        rolled_back.rollback()
    assert counter.peek("q", "batch") == 5
    with engine.begin() as conn:
        assert counter.take(conn, "fresh", "batch", 2) == 1
    assert counter.peek("fresh", "batch") == 2
