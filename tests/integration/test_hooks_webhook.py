"""Hook events through the dispatcher to a real local webhook receiver (issue #7 acceptance):
each event is received once by id even when a delivery repeats; a receiver that is down gets its
events once it is back; a wrong secret is detected, ends undeliverable, and `sq hooks replay`
delivers it after the fix."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.hooks import (
    HookDeps,
    HookEvent,
    MalformedHookEventError,
    WebhookHookSink,
    hook_stage,
    hook_topic_name,
    hook_topic_names,
    new_event,
    publish_hook,
    replay_undeliverable,
)
from sq.platform.hooks.sql import SqlHookStore
from sq.platform.messagequeue import RetryPolicy
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import Pipeline, construct
from sq.service.access import Access
from sq.service.cli.hooks import hooks as hooks_cli
from sq.service.hooks_api import HookEndpoint, HookRegistry, hooks_router
from sq.service.http import HttpServer, build_app
from support.mq import Harness
from support.webhook import Receiver

pytestmark = pytest.mark.anyio

SOURCE = "testhost"
SECRET = "correct horse"
RETRY = RetryPolicy(max_attempts=6, initial_backoff_ms=1000, max_backoff_ms=8000)


@dataclass
class Host:
    h: Harness
    store: SqlHookStore
    sink: WebhookHookSink
    pipeline: Pipeline
    receiver: Receiver

    async def publish(self, event: HookEvent, message_id: str | None = None) -> bool:
        topic = hook_topic_name(SOURCE)
        return await publish_hook(self.h.queue, event, topic=topic, message_id=message_id)

    async def settle(self, seconds: float = 0.0, dead_letters: int = 0) -> None:
        await self.h.settle(dead_letters)
        if seconds:
            await self.h.advance(seconds)


def event(subject: str, version: int = 1) -> HookEvent:
    return new_event(
        SOURCE, "thing.done", subject, timestamp_ms=1, version=version, facts={"n": version}
    )


@pytest.fixture
async def host(tmp_path: Path) -> AsyncIterator[Host]:
    receiver = Receiver(SECRET)
    await receiver.start()
    engine = create_engine(str(tmp_path / "host.db"))
    migrations.upgrade(engine, migrations.hooks_schema())
    store = SqlHookStore(engine)
    h = Harness(MemoryQueueStore())
    sink = WebhookHookSink(receiver.url, secret=SECRET, timeout_s=5.0)
    deps = HookDeps(sink=sink, store=store, clock=h.clock)
    stage = hook_stage(consumer_group="host-hook", hooks=lambda d: d, retry=RETRY)
    pipeline = construct(h.queue, deps, [stage], topic_names=hook_topic_names(SOURCE))
    await pipeline.start()
    yield Host(h, store, sink, pipeline, receiver)
    await pipeline.stop()
    await sink.close()
    await receiver.stop()
    engine.dispose()


async def test_each_event_is_received_once_by_id_even_when_its_delivery_repeats(
    host: Host,
) -> None:
    one, two, three = event("a/1"), event("b/1"), event("c/1")
    # The receiver takes `three` but answers 500: the sink must send it again.
    host.receiver.answer = lambda e, nth: 500 if e.id == three.id and nth == 0 else 200
    assert await host.publish(one)
    assert await host.publish(two)
    assert await host.publish(three)
    assert not await host.publish(one)  # the same message again: the queue dedups it
    await host.settle()
    assert await host.publish(two, message_id="forced-repeat")  # a new message, same event
    await host.settle(2.0)

    assert set(host.receiver.received) == {one.id, two.id, three.id}
    assert host.receiver.received[two.id] == two
    assert host.receiver.posts_of(one.id) == 1
    assert host.receiver.posts_of(two.id) == 1  # the delivered-ledger skipped the repeat
    assert host.receiver.posts_of(three.id) == 2
    assert all(p.signed for p in host.receiver.posts)
    assert host.store.undeliverable() == []


async def test_a_receiver_that_is_down_gets_its_events_when_it_is_back(host: Host) -> None:
    await host.receiver.stop()
    events = [event("a/1"), event("a/1", version=2), event("b/7")]
    for e in events:
        await host.publish(e)
    await host.settle()
    await host.settle(1.0)
    assert host.receiver.posts == []
    await host.receiver.start()
    await host.settle(8.0)
    assert set(host.receiver.received) == {e.id for e in events}
    assert all(host.receiver.posts_of(e.id) == 1 for e in events)
    assert host.store.undeliverable() == []


async def test_a_wrong_secret_is_detected_recorded_and_replayed_after_the_fix(host: Host) -> None:
    host.receiver.secret = "a different secret"
    lost = event("q/42")
    await host.publish(lost)
    await host.settle(dead_letters=1)  # refused with 401: recorded undeliverable

    assert [(p.event_id, p.signed, p.status) for p in host.receiver.posts] == [
        (lost.id, False, 401)
    ]
    assert host.receiver.received == {}
    (record,) = host.store.undeliverable()
    assert (record.event_id, record.source, record.subject) == (lost.id, SOURCE, "q/42")
    assert "401" in record.reason
    assert HookEvent.model_validate_json(record.event) == lost

    registry = HookRegistry()
    topic = hook_topic_name(SOURCE)
    registry.add(HookEndpoint(source=SOURCE, store=host.store, queue=host.h.queue, topic=topic))
    api = HttpServer(
        build_app([hooks_router(registry)], ready=lambda: True, access=Access()), "127.0.0.1", 0
    )
    await api.start()
    addr = f"http://127.0.0.1:{api.port}"
    try:
        listed = await cli("undeliverable", "--json", "--addr", addr)
        assert [row["event_id"] for row in json.loads(listed)] == [lost.id]

        host.receiver.secret = SECRET
        out = await cli("replay", lost.id, "--addr", addr)
        assert f"replayed {lost.id}" in out
        await host.settle()
        assert host.receiver.received == {lost.id: lost}
        assert host.store.undeliverable() == []
        assert json.loads(await cli("undeliverable", "--json", "--addr", addr)) == []
        await cli("replay", lost.id, "--addr", addr, exit_code=1)
    finally:
        await api.stop()


async def cli(*args: str, exit_code: int = 0) -> str:
    result = await asyncio.to_thread(CliRunner().invoke, hooks_cli, list(args))
    assert result.exit_code == exit_code, result.output
    return result.output


async def test_a_malformed_event_is_dead_lettered_and_cannot_be_replayed(host: Host) -> None:
    topic = hook_topic_name(SOURCE)
    await host.h.queue.publish(topic, "k", "bad-1", {"id": "", "source": SOURCE, "type": "x"})
    await host.settle(dead_letters=1)
    assert host.receiver.posts == []
    (record,) = host.store.undeliverable()
    assert (record.event_id, record.message_id, record.source) == ("bad-1", "bad-1", "")
    assert "malformed hook event: id" in record.reason
    with pytest.raises(MalformedHookEventError):
        await replay_undeliverable(host.store, host.h.queue, topic, "bad-1")
    assert host.store.get_undeliverable("bad-1") == record
