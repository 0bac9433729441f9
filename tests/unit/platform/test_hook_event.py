"""The hook event contract: ids that never collide, validation, signing and the sinks' verdicts."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sq.platform import errs
from sq.platform.hooks import (
    CompositeHookSink,
    HookDeliveryError,
    HookEvent,
    LogHookSink,
    MalformedHookEventError,
    PermanentHookError,
    WebhookHookSink,
    event_id,
    new_event,
    publish_hook,
    sign,
    unversioned_event_id,
    validate,
    verify_signature,
)
from sq.platform.hooks.webhook import EVENT_ID_HEADER, EVENT_TYPE_HEADER, SIGNATURE_HEADER
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.memory import MemoryQueueStore

pytestmark = pytest.mark.anyio

EVENT = {
    "id": "e-1",
    "source": "submitqueue",
    "type": "request.landed",
    "timestamp_ms": 1_700_000_000_000,
    "version": 3,
    "payload": {"subject": "q/1", "queue": "q"},
}


def test_a_slash_in_the_subject_no_longer_makes_the_two_id_forms_collide() -> None:
    versioned = event_id("s", "t", "x/1", 0)
    unversioned = unversioned_event_id("s", "t", "x", "1", 0)
    assert versioned != unversioned
    assert versioned == "s/t/x%2F1/0"


def test_a_percent_in_a_component_is_escaped_too() -> None:
    assert event_id("s", "t", "x%2F1", 0) != event_id("s", "t", "x/1", 0)


part = st.text(min_size=0, max_size=12)


@given(a=st.tuples(part, part, part, st.integers(0, 9)), b=st.tuples(part, part, part, part))
def test_versioned_and_unversioned_ids_never_meet(
    a: tuple[str, str, str, int], b: tuple[str, str, str, str]
) -> None:
    assert event_id(*a) != unversioned_event_id(*b, 0)


@given(
    a=st.tuples(part, part, part, st.integers(0, 9)),
    b=st.tuples(part, part, part, st.integers(0, 9)),
)
def test_versioned_ids_are_equal_only_for_equal_parts(
    a: tuple[str, str, str, int], b: tuple[str, str, str, int]
) -> None:
    assert (event_id(*a) == event_id(*b)) == (a == b)


def test_long_ids_are_bounded_and_stay_distinct() -> None:
    long_a = event_id("stovepipe", "project.green", "p" * 300, 1)
    long_b = event_id("stovepipe", "project.green", "p" * 300, 2)
    assert len(long_a) <= 255
    assert long_a != long_b
    assert "#" in long_a
    assert "#" not in event_id("s", "t", "a#b", 0)


def test_validate_follows_the_contract() -> None:
    assert validate(EVENT).id == "e-1"
    for field in ("id", "source", "type"):
        with pytest.raises(MalformedHookEventError, match=field):
            validate({**EVENT, field: ""})
    with pytest.raises(MalformedHookEventError):
        validate(None)
    with pytest.raises(MalformedHookEventError, match="version"):
        validate({**EVENT, "version": -1})
    bare = validate({"id": "e", "source": "s", "type": "t"})
    assert (bare.version, bare.payload, bare.subject) == (0, {}, "")
    assert validate({**EVENT, "payload": None}).payload == {}
    assert validate({**EVENT, "timestamp_ms": "1700000000000"}).timestamp_ms == 1_700_000_000_000
    assert validate({**EVENT, "unknown": 1}).id == "e-1"
    with pytest.raises(MalformedHookEventError):
        validate("{not json")


def test_new_event_derives_a_stable_id_and_names_the_subject() -> None:
    one = new_event("sq", "request.landed", "q/1", timestamp_ms=1, version=4, facts={"a": 1})
    two = new_event("sq", "request.landed", "q/1", timestamp_ms=2, version=4)
    assert one.id == two.id == event_id("sq", "request.landed", "q/1", 4)
    assert one.payload == {"a": 1, "subject": "q/1"}
    caused = new_event("sq", "batch.failed", "b/1", timestamp_ms=1, cause_message_id="m/7")
    assert caused.id == unversioned_event_id("sq", "batch.failed", "b/1", "m/7", 0)


async def test_publish_needs_a_subject_and_keys_the_partition_by_it() -> None:
    store = MemoryQueueStore()
    queue = MessageQueue(store)
    with pytest.raises(MalformedHookEventError, match="subject"):
        await publish_hook(queue, validate({**EVENT, "payload": {}}), topic="x_hook")
    with pytest.raises(ValueError, match="topic"):
        await publish_hook(queue, validate(EVENT))
    assert await publish_hook(queue, validate(EVENT), topic="x_hook") is True
    assert await publish_hook(queue, validate(EVENT), topic="x_hook") is False
    assert store.topics() == ["x_hook"]
    assert [(m.partition_key, m.message_id) for m in store.messages("x_hook")] == [("q/1", "e-1")]


def test_a_signature_verifies_only_with_its_secret_and_its_exact_body() -> None:
    body = b'{"id":"e-1"}'
    header = sign("s3cret", body)
    assert header.startswith("sha256=")
    assert verify_signature("s3cret", body, header)
    assert not verify_signature("wrong", body, header)
    assert not verify_signature("s3cret", body + b" ", header)
    assert not verify_signature("s3cret", body, None)
    assert not verify_signature("s3cret", body, header.removeprefix("sha256="))


def webhook(status: int | Exception, seen: list[httpx2.Request]) -> WebhookHookSink:
    def answer(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        if isinstance(status, Exception):
            raise status
        return httpx2.Response(status)

    return WebhookHookSink(
        "http://receiver.test/hook", secret="k", transport=httpx2.MockTransport(answer)
    )


async def test_the_webhook_posts_the_signed_event_with_its_headers() -> None:
    seen: list[httpx2.Request] = []
    sink = webhook(204, seen)
    await sink.handle(validate(EVENT))
    await sink.close()
    (request,) = seen
    body = request.content
    assert HookEvent.model_validate_json(body) == validate(EVENT)
    assert request.headers[EVENT_ID_HEADER] == "e-1"
    assert request.headers[EVENT_TYPE_HEADER] == "request.landed"
    assert verify_signature("k", body, request.headers[SIGNATURE_HEADER])


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, HookDeliveryError),
        (503, HookDeliveryError),
        (408, HookDeliveryError),
        (429, HookDeliveryError),
        (400, PermanentHookError),
        (404, PermanentHookError),
        (301, PermanentHookError),
        (httpx2.ConnectError("refused"), HookDeliveryError),
        (httpx2.ReadTimeout("slow"), HookDeliveryError),
    ],
)
async def test_webhook_failures_are_classified(status: Any, error: type[Exception]) -> None:
    sink = webhook(status, [])
    with pytest.raises(error) as caught:
        await sink.handle(validate(EVENT))
    await sink.close()
    retryable = errs.is_retryable(errs.verdict_of(caught.value))
    assert retryable == (error is HookDeliveryError)


class Failing:
    def __init__(self, name: str, error: Exception | None) -> None:
        self.name, self.error, self.seen = name, error, 0

    async def handle(self, event: HookEvent) -> None:
        self.seen += 1
        if self.error is not None:
            raise self.error


async def test_the_composite_runs_every_child_and_names_the_failing_ones() -> None:
    ok = Failing("ok", None)
    down = Failing("down", HookDeliveryError("503"))
    refused = Failing("refused", PermanentHookError("400"))
    with pytest.raises(HookDeliveryError) as caught:
        await CompositeHookSink([ok, down, refused, LogHookSink()]).handle(validate(EVENT))
    assert (ok.seen, down.seen, refused.seen) == (1, 1, 1)
    assert "down: 503" in str(caught.value)
    assert "refused: 400" in str(caught.value)
    assert "ok" not in str(caught.value).replace("hook", "")
    with pytest.raises(PermanentHookError, match="refused"):
        await CompositeHookSink([ok, refused]).handle(validate(EVENT))
    await CompositeHookSink([ok, LogHookSink()]).handle(validate(EVENT))
