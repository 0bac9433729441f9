"""Visibility, retries with backoff, holds, barriers and the DLQ (platform-spec §6.2-6.4, §6.10)."""

from __future__ import annotations

import asyncio

import pytest

from sq.platform.errs import Failure, Subject
from sq.platform.messagequeue import AlreadyFinalizedError, Delivery, RetryPolicy
from sq.platform.messagequeue.store import QueueStore
from support.mq import Harness, Inbox

pytestmark = pytest.mark.anyio


async def test_extended_delivery_stays_in_flight_and_a_lapsed_one_comes_back(
    store: QueueStore,
) -> None:
    h = Harness(store)
    inbox = await h.consume("t", visibility_timeout_ms=2000)
    await h.publish("t", "p", "m1")
    first = await inbox.next()
    assert first.attempt == 1
    assert await first.extend_visibility(3.0)
    await h.advance(2.5)
    assert inbox.take() == []
    first.ack()
    await h.publish("t", "p", "m2")
    second = await inbox.next()
    assert (second.message_id, second.attempt) == ("m2", 1)
    await h.advance(2.1)
    again = await inbox.next()
    assert (again.message_id, again.attempt) == ("m2", 2)
    await h.queue.close()


async def test_nacks_back_off_then_dead_letter_with_the_last_failure(store: QueueStore) -> None:
    h = Harness(store)
    h.dead_letters_expected = 1
    retry = RetryPolicy(max_attempts=2, initial_backoff_ms=1000)
    inbox = await h.consume("t", retry=retry)
    dlq = await h.consume("t_dlq", group="g-dlq")
    await h.publish("t", "p", "m", {"w": 7})
    for attempt in (1, 2):
        delivery = await inbox.next()
        assert delivery.attempt == attempt
        delivery.nack(
            Failure(
                message=f"processing failed on attempt {attempt}",
                subjects=(Subject(type="widget", id="widget-7"),),
            )
        )
        await h.settle()
        if attempt == 1:
            await h.advance(0.9)
            assert inbox.take() == [], "a retry must wait out its backoff"
            await h.advance(0.2)
    letter = await dlq.next()
    assert letter.json() == {"w": 7} and letter.partition_key == "p"
    assert letter.metadata["dlq.original_topic"] == "t"
    assert letter.metadata["dlq.failure_count"] == "2"
    assert letter.metadata["dlq.last_error"] == "processing failed on attempt 2"
    assert int(letter.metadata["dlq.failed_at"]) > 0
    assert letter.failure is not None and letter.failure.ids_of_type("widget") == ["widget-7"]
    await h.advance(60)
    assert inbox.take() == []
    await h.queue.close()


async def test_a_postpone_resets_the_attempt_budget(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t", retry=RetryPolicy(max_attempts=2, initial_backoff_ms=10))
    dlq = await h.consume("t_dlq", group="g-dlq", auto_ack=True)
    await h.publish("t", "p", "m")
    (await inbox.next()).postpone(100)
    await h.advance(0.1)
    first = await inbox.next()
    assert first.attempt == 1
    first.nack(Failure(message="boom"))
    await h.advance(0.01)
    second = await inbox.next()
    assert second.attempt == 2
    second.nack(Failure(message="boom"))
    assert (await dlq.next()).message.original_topic == "t"
    await h.queue.close()


async def test_consumer_groups_keep_independent_positions(store: QueueStore) -> None:
    h = Harness(store)
    alpha = await h.consume("t", group="alpha")
    beta = await h.consume("t", group="beta", auto_ack=True)
    await h.publish("t", "p", "shared-1")
    await h.publish("t", "p", "shared-2")
    one, two = await alpha.next(), await alpha.next()
    one.nack(Failure(message="not yet"))
    two.ack()
    await h.advance(1.0)
    again = await alpha.next()
    assert (again.message_id, again.attempt) == ("shared-1", 2)
    again.ack()
    await h.settle()
    assert beta.ids == ["shared-1", "shared-2"]
    await h.queue.close()


async def test_an_in_flight_head_does_not_block_later_messages(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    await h.publish("t", "p", "m1")
    await inbox.next()
    await h.publish("t", "p", "m2")
    await h.publish("t", "p", "m3")
    assert [(await inbox.next()).message_id for _ in range(2)] == ["m2", "m3"]
    await h.queue.close()


async def test_a_postponed_head_blocks_its_partition_and_comes_back_first(
    store: QueueStore,
) -> None:
    h = Harness(store)

    def hold_once(delivery: Delivery) -> None:
        if delivery.message_id == "m1" and not held:
            held.append(delivery)
            delivery.postpone(2000)

    held: list[Delivery] = []
    inbox = await h.consume("t", inbox=Inbox(decide=hold_once))
    await h.publish("t", "p", "m1")
    await inbox.next()
    await h.publish("t", "p", "m2")
    await h.publish("t", "p", "m3")
    await h.advance(1.9)
    assert inbox.take() == []
    await h.advance(0.1)
    got = []
    for _ in range(3):
        delivery = await inbox.next()
        got.append((delivery.message_id, delivery.attempt))
        delivery.ack()
    assert got == [("m1", 1), ("m2", 1), ("m3", 1)]
    await h.queue.close()


async def test_batch_size_one_serializes_strictly(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t", batch_size=1)
    for i in range(5):
        await h.publish("t", "p", f"m{i}")
    for i in range(5):
        delivery = await inbox.next()
        assert delivery.message_id == f"m{i}"
        await h.settle()
        assert inbox.take() == []
        delivery.ack()
    await h.advance(1)
    assert inbox.take() == []
    await h.queue.close()


async def test_the_watermark_is_contiguous(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t", visibility_timeout_ms=30_000)
    for i in range(1, 6):
        await h.publish("t", "p", f"m{i}")
    got = {d.message_id: d for d in [await inbox.next() for _ in range(5)]}

    async def watermark_after(*acks: str) -> int:
        for name in acks:
            got[name].ack()
        await h.settle()
        return store.watermark("g", "t", "p")

    assert await watermark_after("m3", "m1", "m2") == 3
    assert await watermark_after("m5") == 3
    assert await watermark_after("m4") == 5
    await h.queue.close()


async def test_finalizing_twice_is_an_error(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    await h.publish("t", "p", "m")
    delivery = await inbox.next()
    delivery.ack()
    for again in (
        delivery.ack,
        lambda: delivery.nack(Failure(message="x")),
        lambda: delivery.postpone(1),
        lambda: delivery.reject(Failure(message="x")),
    ):
        with pytest.raises(AlreadyFinalizedError):
            again()
    with pytest.raises(AlreadyFinalizedError):
        await delivery.extend_visibility(1)
    await h.queue.close()


async def test_a_reject_in_one_group_leaves_the_message_to_another(store: QueueStore) -> None:
    h = Harness(store)
    rejecting = await h.consume("t", group="a")
    other = await h.consume("t", group="b", auto_ack=True)
    dlq = await h.consume("t_dlq", group="a-dlq", auto_ack=True)
    await h.publish("t", "p", "m")
    (await rejecting.next()).reject(Failure(message="bad"))
    letter = await dlq.next()
    assert letter.metadata["dlq.consumer_group"] == "a"
    assert (await other.next()).message_id == "m"
    await h.queue.close()


async def test_dead_lettering_one_id_twice_does_not_wedge_the_partition(store: QueueStore) -> None:
    h = Harness(store)
    h.dead_letters_expected = 2
    inbox = await h.consume("t", retention_ms=0, gc_interval_ms=0)
    dlq = await h.consume("t_dlq", group="g-dlq")
    await h.publish("t", "p", "m")
    (await inbox.next()).reject(Failure(message="first"))
    await dlq.next()
    await h.advance(1)  # the original is collected, so the same id can be published again
    assert await h.publish("t", "p", "m") is True
    (await inbox.next()).reject(Failure(message="second"))
    await h.publish("t", "p", "after")
    after = await inbox.next()
    assert after.message_id == "after"
    await h.queue.close()


async def test_collected_tail_does_not_reuse_sequence_numbers(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t", auto_ack=True, retention_ms=0, gc_interval_ms=0)
    await h.publish("t", "p", "m1")
    await inbox.next()
    await h.advance(1)
    assert [p.messages for p in store.partitions("t")] == [0]
    await h.publish("t", "p", "m2")
    second = await inbox.next()
    assert second.message.seq == 2


async def test_graceful_close_hands_back_deliveries_not_started(store: QueueStore) -> None:
    h = Harness(store)
    started = asyncio.Event()
    release = asyncio.Event()

    class Blocking(Inbox):
        async def __call__(self, delivery):  # type: ignore[no-untyped-def]
            await super().__call__(delivery)
            if delivery.message_id == "m0":
                started.set()
                await release.wait()
            delivery.ack()

    await h.consume("t", inbox=Blocking())
    for i in range(5):
        await h.publish("t", "p", f"m{i}")
    await started.wait()
    closing = asyncio.create_task(h.queue.close())
    await asyncio.sleep(0)
    release.set()
    await closing
    successor = h.peer("s2")
    inbox = await successor.consume("t", auto_ack=True)
    got = [(d.message_id, d.attempt) for d in [await inbox.next() for _ in range(4)]]
    assert got == [(f"m{i}", 1) for i in range(1, 5)]
    await successor.queue.close()


async def test_released_partitions_are_collected_after_the_retention(store: QueueStore) -> None:
    # Partitions used once (a batch id, a request id) are released by their workers after two
    # lease durations, long before their messages are older than the retention.
    h = Harness(store)
    inbox = await h.consume("t", auto_ack=True, retention_ms=120_000)
    for i in range(3):
        await h.publish("t", f"once-{i}", f"m{i}")
    for _ in range(3):
        await inbox.next()
    for _ in range(9):
        await h.advance(10)
    assert h.queue.subscriptions[0].owned() == []
    assert [lease.owner for lease in store.leases("g", "t")] == ["", "", ""]
    assert [p.messages for p in store.partitions("t")] == [1, 1, 1]
    for _ in range(6):
        await h.advance(10)
    assert [p.messages for p in store.partitions("t")] == [0, 0, 0]
    assert await h.publish("t", "once-0", "again") is True
    assert (await inbox.next()).message.seq == 2
    await h.queue.close()


async def test_collecting_a_topic_keeps_what_a_group_has_not_passed(store: QueueStore) -> None:
    h = Harness(store)
    fast = await h.consume("t", group="fast", auto_ack=True, retention_ms=0, gc_interval_ms=0)
    slow = await h.consume("t", group="slow", retention_ms=0, gc_interval_ms=0)
    await h.publish("t", "p", "m1")
    await h.publish("t", "p", "m2")
    await h.publish("t", "q", "n1")
    for _ in range(3):
        await fast.next()
    (await slow.next()).ack()  # m1 or n1: one partition's first message
    await slow.next()  # the other partition's, left unacked
    await h.advance(5)
    kept = {p.partition_key: p.messages for p in store.partitions("t")}
    assert sum(kept.values()) == 2
    assert store.gc_topic("t", h.clock.now_ms() + 1) == 0
    await h.queue.close()
