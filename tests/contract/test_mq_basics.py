"""Publish and subscribe basics (platform-spec §6.1), on every backend."""

from __future__ import annotations

import asyncio
import threading

import pytest

from sq.platform.messagequeue import InvalidMessageError
from sq.platform.messagequeue.store import QueueStore
from support.mq import Harness

pytestmark = pytest.mark.anyio


async def test_round_trip_keeps_payload_and_metadata(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    await h.publish("t", "p1", "msg-1", {"text": "hello"}, {"a": "1", "b": "2", "c": "3"})
    await h.publish("t", "p1", "msg-2", {"text": "bye"})
    first, second = await inbox.next(), await inbox.next()
    assert (first.message_id, second.message_id) == ("msg-1", "msg-2")
    assert first.json() == {"text": "hello"}
    assert dict(first.message.metadata) == {"a": "1", "b": "2", "c": "3"}
    assert dict(second.message.metadata) == {}
    assert first.metadata["topic"] == "t" and first.metadata["partition_key"] == "p1"
    assert first.attempt == 1 and first.failure is None
    await h.queue.close()


async def test_an_unacked_message_does_not_hold_up_another_partition(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    await h.publish("t", "a", "a-1")
    held = await inbox.next()
    await h.publish("t", "b", "b-1")
    other = await inbox.next()
    assert (held.partition_key, other.partition_key) == ("a", "b")
    await h.queue.close()


async def test_messages_published_before_subscribing_arrive_in_order(store: QueueStore) -> None:
    h = Harness(store)
    for i in range(5):
        await h.publish("t", "p", f"m{i}")
    inbox = await h.consume("t")
    got = [(await inbox.next()).message_id for _ in range(5)]
    assert got == [f"m{i}" for i in range(5)]
    await h.queue.close()


async def test_ten_messages_in_one_partition_arrive_in_publish_order(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    for i in range(10):
        await h.publish("t", "p", f"m{i:02}")
    got = [(await inbox.next()).message_id for _ in range(10)]
    assert got == [f"m{i:02}" for i in range(10)]
    await h.queue.close()


async def test_every_partition_is_delivered(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    for p in ("x", "y", "z"):
        for i in range(2):
            await h.publish("t", p, f"{p}{i}")
    got = sorted([(await inbox.next()).message_id for _ in range(6)])
    assert got == ["x0", "x1", "y0", "y1", "z0", "z1"]
    await h.queue.close()


async def test_an_empty_topic_delivers_nothing_until_a_publish(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    await h.advance(5)
    assert inbox.take() == []
    await h.publish("t", "p", "late")
    assert (await inbox.next()).message_id == "late"
    await h.queue.close()


async def test_publishing_one_id_twice_stores_and_delivers_it_once(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    assert await h.publish("t", "p", "same", {"v": 1}) is True
    assert await h.publish("t", "p", "same", {"v": 2}) is False
    assert (await inbox.next()).json() == {"v": 1}
    await h.advance(2)
    assert inbox.take() == []
    await h.queue.close()


async def test_dedup_outlives_consumption(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t")
    await h.publish("t", "p", "batch-1", {"v": 1})
    (await inbox.next()).ack()
    await h.settle()
    assert await h.publish("t", "p", "batch-1", {"v": 2}) is False
    await h.publish("t", "p", "batch-1/merged", {"v": 3})
    again = await inbox.next()
    assert (again.message_id, again.json()) == ("batch-1/merged", {"v": 3})
    await h.queue.close()


async def test_concurrent_publishers_lose_nothing(store: QueueStore) -> None:
    h = Harness(store)
    inbox = await h.consume("t", auto_ack=True)
    barrier = threading.Barrier(5)

    def publisher(n: int) -> None:
        barrier.wait()
        for i in range(3):
            h.queue.publish_sync([h.queue.message("t", "p", f"w{n}-{i}", {"n": n})])

    await asyncio.gather(*(asyncio.to_thread(publisher, n) for n in range(5)))
    h.queue.waker.notify("t", "p")
    got = [(await inbox.next()).message_id for _ in range(15)]
    assert sorted(got) == sorted(f"w{n}-{i}" for n in range(5) for i in range(3))
    for n in range(5):
        mine = [g for g in got if g.startswith(f"w{n}-")]
        assert mine == [f"w{n}-{i}" for i in range(3)]
    await h.queue.close()


@pytest.mark.parametrize(
    ("topic", "key", "message_id", "payload", "metadata", "reason"),
    [
        ("Bad.Topic", "p", "m", {}, None, "invalid topic name"),
        ("", "p", "m", {}, None, "invalid topic name"),
        ("t" * 256, "p", "m", {}, None, "invalid topic name"),
        ("t", "", "m", {}, None, "partition key"),
        ("t", "p", "", {}, None, "message id"),
        ("t", "p", "m" * 256, {}, None, "message id"),
        ("t", "p", "m", "{not json", None, "not valid JSON"),
        ("t", "p", "m", "{} trailing", None, "not valid JSON"),
        ("t", "p", "m", '"' + "\u00e9" * 600 + '"', None, "is 1202 bytes; the limit is 1024"),
        (7, "p", "m", {}, None, "invalid topic name"),
        ("t", "p", "m", b"\xff\xfe", None, "not UTF-8"),
        ("t", "p", "m", {"x": float("nan")}, None, "not JSON-serializable"),
        ("t", "p", "m", {"x": "y" * 2000}, None, "limit is 1024"),
        ("t", "p", "m", {}, {"k": 1}, "metadata value"),
        ("t", "p", "m", {}, {"": "v"}, "metadata key"),
    ],
)
async def test_bad_input_is_refused_and_nothing_is_stored(
    store: QueueStore,
    topic: str,
    key: str,
    message_id: str,
    payload: object,
    metadata: dict[str, str] | None,
    reason: str,
) -> None:
    h = Harness(store)
    h.queue.max_payload_bytes = 1024
    with pytest.raises(InvalidMessageError, match=reason):
        await h.queue.publish(topic, key, message_id, payload, metadata)
    assert store.partitions("t") == []
