"""Stovepipe's entities, payloads, setup defaults and fake SourceControl (spec §7.1, §7.9 #99)."""

from __future__ import annotations

import pytest

from sq.platform import errs
from sq.platform.clock import FakeClock
from sq.stovepipe.controller.common import message_of
from sq.stovepipe.deps import Deps, QueueSetup, UnknownQueueError, valid_queue_name
from sq.stovepipe.entity import (
    BuildStatus,
    RequestIDError,
    RequestState,
    ValidationFact,
    compare_request_ids,
    request_number,
)
from sq.stovepipe.extension.sourcecontrol import NotFoundError
from sq.stovepipe.extension.sourcecontrol.fake import SPACING_MS, FakeSourceControl
from sq.stovepipe.messages import EntityMessage
from support.stovepipe_units import FakeDelivery

pytestmark = pytest.mark.anyio

Q = "monorepo/main"


def test_request_ids_compare_numerically_within_their_queue() -> None:
    assert compare_request_ids(Q, f"{Q}/7", f"{Q}/10") == -1
    assert compare_request_ids(Q, f"{Q}/10", f"{Q}/7") == 1
    assert compare_request_ids(Q, f"{Q}/9", f"{Q}/9") == 0
    assert compare_request_ids(Q, "request/x", "request/x") == 0  # identical, even malformed
    with pytest.raises(RequestIDError):
        compare_request_ids(Q, "other/1", f"{Q}/2")


@pytest.mark.parametrize("tail", ["9223372036854775808", "99999999999999999999999", "²", "١٢"])
def test_a_request_number_no_request_can_have_is_refused(tail: str) -> None:
    """`history --before q/<2^63>` answered 500: SQLite cannot bind the number; `²` passed
    `isdigit` and failed `int`."""
    with pytest.raises(RequestIDError):
        request_number(Q, f"{Q}/{tail}")
    assert request_number(Q, f"{Q}/9223372036854775807") == 2**63 - 1


def test_request_and_build_states() -> None:
    terminal = {s for s in RequestState if s.is_terminal}
    assert terminal == {"superseded", "succeeded", "failed", "cancelled"}
    assert {s for s in RequestState if s.has_build_outcome} == {"succeeded", "failed", "cancelled"}
    assert {s for s in BuildStatus if s.is_terminal} == {"succeeded", "failed", "cancelled"}


@pytest.mark.parametrize(("degree", "green"), [(0.0, True), (1.0, False), (0.25, False)])
def test_only_degree_zero_is_green(degree: float, green: bool) -> None:
    fact = ValidationFact(queue=Q, uri="U", degree=degree, request_id=f"{Q}/1", created_at_ms=1)
    assert fact.is_green is green


def test_queue_setup_defaults_and_unknown_queues() -> None:
    setup = QueueSetup(name=Q)
    assert (setup.max_concurrent, setup.gate_wait_delay_ms) == (1, 5000)
    deps = Deps(storage=None, source_control=None, runner=None, counter=None, any_queue=True)  # type: ignore[arg-type]
    assert deps.queue(Q).max_concurrent == 1
    with pytest.raises(UnknownQueueError):
        deps.queue("")


def test_payloads_round_trip_and_ignore_unknown_fields() -> None:
    message = EntityMessage(id=f"{Q}/1", queue_name=Q, project="b")
    assert EntityMessage.model_validate_json(message.model_dump_json()) == message
    decoded = message_of(FakeDelivery({"id": "x", "queue_name": Q, "later": 1}))  # type: ignore[arg-type]
    assert (decoded.id, decoded.project, decoded.key) == ("x", "", "x")
    assert message.key == f"{Q}/1#b"
    for bad in ("not-json", {"id": "x"}, {"id": "", "queue_name": Q}):
        with pytest.raises(errs.UserError):
            message_of(FakeDelivery(bad))  # type: ignore[arg-type]


async def test_fake_source_control() -> None:
    clock = FakeClock()
    sc = FakeSourceControl(["C", "B", "A"], clock)
    assert await sc.latest() == "C"
    assert await sc.is_ancestor("A", "C") and await sc.is_ancestor("B", "B")
    assert not await sc.is_ancestor("C", "A")
    with pytest.raises(NotFoundError):
        await sc.is_ancestor("X", "C")
    with pytest.raises(NotFoundError):
        await sc.promote("X")
    first = await sc.history(limit=2)
    assert (first.uris, first.next_cursor) == (("C", "B"), "A")
    assert (await sc.history(first.next_cursor, 2)).uris == ("A",)
    assert (await sc.history(limit=0)).uris == ("C", "B", "A")
    with pytest.raises(NotFoundError):
        await sc.history("X")
    a, c = await sc.change_info("A"), await sc.change_info("C")
    assert c.created_at_ms - a.created_at_ms == 2 * SPACING_MS
    with pytest.raises(NotFoundError):
        await FakeSourceControl().latest()


async def test_fake_promotion_is_forward_only_and_reports_moves() -> None:
    sc = FakeSourceControl(["C", "B", "A"])
    sc.refs["p"] = "refs/heads/verified-p"
    moved = await sc.promote("B")
    assert moved is not None and (moved.old, moved.new, moved.moved) == ("", "B", True)
    stays = await sc.promote("A")
    assert stays is not None and (stays.old, stays.moved) == ("B", False)
    assert await sc.promote("B", "nobody") is None
    assert await sc.promote("C", "p") is not None
    assert (await sc.promotion()).uri == "B"  # type: ignore[union-attr]
    assert (await sc.promotion("p")).uri == "C"  # type: ignore[union-attr]
    assert await sc.promotion("nobody") is None


async def test_fake_changed_paths_cover_the_range() -> None:
    sc = FakeSourceControl()
    sc.push("A", files=["a/x"])
    sc.push("B", files=["b/x"])
    sc.push("C", files=["c/x", "a/y"])
    assert await sc.changed_paths("A", "C") == {"b/x", "c/x", "a/y"}
    assert await sc.changed_paths("", "B") == {"a/x", "b/x"}
    assert await sc.changed_paths("C", "C") == frozenset()
    with pytest.raises(NotFoundError):
        await sc.changed_paths("X", "C")


@pytest.mark.parametrize("name", ["a\x00b", " ", "../x", "a//b", "/a", "a/", ".hidden", "x" * 201])
def test_a_deployment_taking_any_queue_refuses_a_name_no_queue_could_have(name: str) -> None:
    """`POST /stovepipe/ingest {"queue": "a\\u0000b"}` was a 200, and `/metrics` then printed
    a NUL byte inside a label."""
    assert not valid_queue_name(name)
    deps = Deps(storage=None, source_control=None, runner=None, counter=None, any_queue=True)  # type: ignore[arg-type]
    with pytest.raises(UnknownQueueError):
        deps.queue(name)


@pytest.mark.parametrize("name", ["main", "monorepo/main", "team-a/svc_1.x"])
def test_queue_names_with_segments_are_taken(name: str) -> None:
    assert valid_queue_name(name)
