"""Claims of a window at the store: each delivery keeps its own deadline and attempt count.

The SQL stores claim first deliveries as a range on the offset row (sql/cycle.py); these pin down
what that must not change, on every backend: a later claim does not move the deadline of
deliveries still in flight, a hand-back from the middle of a window touches only itself, and an
extension moves only its own delivery.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.store import (
    CycleResult,
    Fence,
    FetchSpec,
    Outcome,
    OutcomeKind,
    QueueStore,
)

TOPIC, KEY, GROUP = "claims", "p", "g"
FETCH = FetchSpec(batch_size=10, visibility_timeout_ms=1000, max_attempts=5, dead_letter=True)


def _publish(store: QueueStore, *ids: str) -> None:
    messages = [
        OutgoingMessage(topic=TOPIC, partition_key=KEY, message_id=i, payload="{}") for i in ids
    ]
    assert store.publish(messages, 0) == [True] * len(ids)


def _holder(store: QueueStore) -> Fence:
    lease = store.try_acquire(GROUP, TOPIC, KEY, "owner", 0, -30_000)
    assert lease is not None
    return Fence(
        consumer_group=GROUP, topic=TOPIC, partition_key=KEY, owner="owner", epoch=lease.epoch
    )


def _got(result: CycleResult) -> list[tuple[str, int]]:
    return [(f.message.message_id, f.attempt) for f in result.deliveries]


def _ack(seq: int) -> Outcome:
    return Outcome(seq=seq, kind=OutcomeKind.ACK)


def test_a_later_claim_leaves_earlier_deadlines_alone(store: QueueStore) -> None:
    _publish(store, "m1", "m2")
    fence = _holder(store)
    assert _got(store.cycle(fence, [], FETCH, 0)) == [("m1", 1), ("m2", 1)]
    _publish(store, "m3")
    # m2 is still in flight (until 1000) when m3 is claimed (until 1600).
    later = store.cycle(fence, [_ack(1)], FETCH, 600)
    assert _got(later) == [("m3", 1)]
    assert later.next_due_ms == 1000
    assert _got(store.cycle(fence, [], FETCH, 999)) == []
    assert _got(store.cycle(fence, [], FETCH, 1000)) == [("m2", 2)]
    assert _got(store.cycle(fence, [], FETCH, 1599)) == []
    assert _got(store.cycle(fence, [], FETCH, 1600)) == [("m3", 2)]


def test_a_hand_back_from_the_middle_of_a_window_touches_only_itself(store: QueueStore) -> None:
    _publish(store, "m1", "m2", "m3")
    fence = _holder(store)
    first = store.cycle(fence, [], FETCH, 0)
    assert _got(first) == [("m1", 1), ("m2", 1), ("m3", 1)]
    back = Outcome(seq=2, kind=OutcomeKind.HAND_BACK, previous_retry_count=None)
    # Handed back, m2 is a first delivery again; m1 and m3 stay in flight.
    assert _got(store.cycle(fence, [back], FETCH, 10)) == [("m2", 1)]
    assert _got(store.cycle(fence, [], FETCH, 999)) == []
    assert _got(store.cycle(fence, [], FETCH, 1000)) == [("m1", 2), ("m3", 2)]
    assert _got(store.cycle(fence, [], FETCH, 1010)) == [("m2", 2)]


def test_an_extension_moves_only_its_own_deadline(store: QueueStore) -> None:
    _publish(store, "m1", "m2")
    fence = _holder(store)
    assert _got(store.cycle(fence, [], FETCH, 0)) == [("m1", 1), ("m2", 1)]
    assert store.extend(fence, 1, 5000)
    assert _got(store.cycle(fence, [], FETCH, 1000)) == [("m2", 2)]
    assert _got(store.cycle(fence, [_ack(2)], FETCH, 4999)) == []
    assert _got(store.cycle(fence, [], FETCH, 5000)) == [("m1", 2)]
    assert store.cycle(fence, [_ack(1)], FETCH, 5001).watermark == 2
    assert not store.extend(fence, 1, 9000), "an acked delivery cannot be extended"


def test_first_deliveries_write_no_row_each(store: QueueStore, engine: Engine | None) -> None:
    """What the claimed range is for: a window of first deliveries acked in order writes only the
    offset row, however many rows it holds."""
    if engine is None:
        pytest.skip("the in-memory store keeps no rows")
    _publish(store, *(f"m{i}" for i in range(1, 11)))
    fence = _holder(store)
    assert len(store.cycle(fence, [], FETCH, 0).deliveries) == 10
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM mq_delivery")).scalar() == 0
        claimed = conn.execute(sa.text("SELECT claimed_seq FROM mq_offsets")).scalar()
    assert claimed == 10
    assert store.cycle(fence, [_ack(seq) for seq in range(1, 11)], FETCH, 1).watermark == 10
