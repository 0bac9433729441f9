"""The scenario helper's `settle()` and the in-memory store's inspection it relies on."""

from __future__ import annotations

import pytest

from sq.platform.errs import Failure
from sq.platform.messagequeue import Delivery
from sq.platform.messagequeue.memory import MemoryQueueStore
from support.mq import Harness, Inbox, UnexpectedDeadLetterError

pytestmark = pytest.mark.anyio


def rejecting(delivery: Delivery) -> None:
    delivery.reject(Failure(message="no"))


async def test_settle_fails_on_a_dead_letter_nobody_expected() -> None:
    h = Harness(MemoryQueueStore())
    await h.consume("t", inbox=Inbox(decide=rejecting))
    await h.publish("t", "p", "m")
    with pytest.raises(UnexpectedDeadLetterError, match="t_dlq:g:m"):
        await h.settle()
    await h.queue.close()


async def test_a_declared_dead_letter_settles_and_one_more_fails() -> None:
    h = Harness(MemoryQueueStore())
    await h.consume("t", inbox=Inbox(decide=rejecting))
    await h.publish("t", "p", "m1")
    await h.settle(dead_letters=1)
    await h.publish("t", "p", "m2")
    with pytest.raises(UnexpectedDeadLetterError, match="2 dead letters, 1 expected"):
        await h.settle()
    await h.queue.close()


async def test_a_delivery_in_a_handlers_hands_is_hidden_until_its_deadline() -> None:
    store = MemoryQueueStore()
    h = Harness(store)
    inbox = await h.consume("t", visibility_timeout_ms=2000)
    await h.publish("t", "p", "m1")
    await h.publish("t", "q", "m2")
    first = await inbox.next()
    await inbox.next()
    await h.settle()  # both are held, not due: settled
    now = h.clock.now_ms()
    assert [(x.partition_key, x.until_ms) for x in store.hidden(now)] == [
        ("p", now + 2000),
        ("q", now + 2000),
    ]
    assert store.due("g", "t", now, batch_size=10) == []
    assert store.due("g", "t", now + 2000, batch_size=10) == ["p", "q"]
    assert store.due("other", "t", now, batch_size=10) == ["p", "q"]
    first.ack()
    await h.settle()
    assert [x.partition_key for x in store.hidden(now)] == ["q"]
    await h.queue.close()


async def test_a_postponed_message_is_a_barrier_for_its_partition() -> None:
    store = MemoryQueueStore()
    h = Harness(store)
    inbox = await h.consume("t")
    await h.publish("t", "p", "m1")
    (await inbox.next()).postpone(1000)
    await h.publish("t", "p", "m2")
    await h.settle()
    now = h.clock.now_ms()
    assert store.due("g", "t", now, batch_size=10) == []
    assert [m.message_id for m in store.messages("t")] == ["m1", "m2"]
    assert store.topics() == ["t"]
    await h.queue.close()
