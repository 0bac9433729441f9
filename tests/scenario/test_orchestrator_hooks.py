"""SubmitQueue tells the outside world when a request ends: one hook event per terminal state,
with a stable id, however often the stage that ended it runs again."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.hooks import HOOK_TOPIC, HookEvent, event_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.orchestrator.pipeline import TOPIC_NAMES
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


async def started(tmp_path: Path) -> Stack:
    stack = Stack(tmp_path)
    await stack.start()
    return stack


def only(stack: Stack, request_id: str) -> HookEvent:
    (event,) = [e for e in stack.hooks.events if e.subject == request_id]
    return event


def published(stack: Stack) -> list[str]:
    """Message ids stored on SubmitQueue's hook topic (the queue dedups by id)."""
    return [msg.message_id for msg in stack.store.messages(TOPIC_NAMES[HOOK_TOPIC])]


def expected_id(stack: Stack, request_id: str, type_: str) -> str:
    request = stack.storage.get_request(QUEUE, request_id)
    assert request is not None
    return event_id("submitqueue", type_, request_id, request.version)


async def test_landed_failed_and_cancelled_each_emit_one_event(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    await s.release()
    b = await s.land("b", fake="build-fail")
    await s.settle()
    await s.release()
    c = await s.land("c")
    await s.cancel(c, "changed my mind")
    await s.settle()
    await s.release()
    assert [s.log.final(r) for r in (a, b, c)] == ["landed", "error", "cancelled"]

    assert [s.hooks.of(r) for r in (a, b, c)] == [
        ["request.landed"],
        ["request.failed"],
        ["request.cancelled"],
    ]
    landed, failed, cancelled = only(s, a), only(s, b), only(s, c)
    assert landed.id == expected_id(s, a, "request.landed")
    assert failed.id == expected_id(s, b, "request.failed")
    assert cancelled.id == expected_id(s, c, "request.cancelled")
    assert {e.source for e in s.hooks.events} == {"submitqueue"}
    assert TOPIC_NAMES[HOOK_TOPIC] == "submitqueue_hook"
    assert sorted(published(s)) == sorted(e.id for e in s.hooks.events)
    assert landed.payload["queue"] == QUEUE
    assert landed.payload["change_uris"] == ["fake://example.com/a"]
    assert landed.payload["reason"] == ""
    assert failed.payload["reason"] == s.log.last_error(b) != ""
    assert cancelled.payload["reason"] == "changed my mind"
    assert landed.version == s.storage.get_request(QUEUE, a).version  # type: ignore[union-attr]
    await s.stop()


async def test_a_dead_lettered_request_emits_request_failed(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a", fake="provider-error")
    await s.settle(dead_letters=1)
    await s.release()
    assert s.hooks.of(a) == ["request.failed"]
    assert "dead-lettered" in only(s, a).payload["reason"]
    await s.stop()


async def test_a_repeated_conclusion_or_cancel_republishes_the_same_id(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    await s.release()
    c = await s.land("c")
    await s.cancel(c, "no")
    await s.settle()
    (batch,) = s.storage.batches_of_request(QUEUE, a)
    ref = m.EntityRef(id=batch.id, queue=QUEUE)
    await s.h.queue.publish(m.TOPIC_CONCLUDE, QUEUE, "conclude-again", ref)
    cancel_again = m.CancelRequest(id=c, queue=QUEUE, reason="no")
    await s.h.queue.publish(m.TOPIC_CANCEL, c, "cancel-again", cancel_again)
    await s.settle()

    assert s.hooks.of(a) == ["request.landed"]
    assert s.hooks.of(c) == ["request.cancelled"]
    assert len({e.id for e in s.hooks.events}) == len(s.hooks.events) == 2
    assert sorted(published(s)) == sorted(e.id for e in s.hooks.events)
    await s.stop()
