"""record (spec §7.6): first fact wins, the forward-only bookmark, the promotion ref."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform import errs
from sq.platform.hooks import HOOK_TOPIC
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.stovepipe.controller.record import RecordController
from sq.stovepipe.entity import RequestState, ValidationFact
from sq.stovepipe.stages import TOPIC_NAMES, stages
from sq.stovepipe.storage import NotFoundError, SqlStorage
from support.stovepipe_units import Q, Units, message, rid

pytestmark = pytest.mark.anyio


def green(u: Units, n: int = 1, **queue: object) -> None:
    u.sc.rewrite([f"U{n}", "U0"])
    u.request(n, RequestState.SUCCEEDED)
    u.queue(**queue)


async def test_a_green_request_records_advances_and_promotes(tmp_path: Path) -> None:
    u = Units(tmp_path)
    green(u)
    await u.run(RecordController, message(1))
    fact = u.store.get_fact(Q, "U1")
    assert (fact.project, fact.degree, fact.request_id) == ("", 0.0, rid(1))
    assert fact.created_at_ms == u.clock.now_ms()
    row = u.store.get_queue(Q)
    assert (row.last_green_uri, row.last_green_request_id) == ("U1", rid(1))
    assert u.sc.promoted == ["U1"]
    events = {e["type"]: (subject, e["payload"]) for subject, _, e in u.ctx.on(HOOK_TOPIC)}
    subject, payload = events["commit.green"]
    assert (subject, payload["degree"], payload["project"]) == (f"{Q}/U1", 0.0, "")
    assert events["promotion.moved"][1]["new"] == "U1"
    assert set(events) == {"commit.green", "promotion.moved"}


async def test_an_older_bookmark_moves_a_newer_one_stays(tmp_path: Path) -> None:
    u = Units(tmp_path)
    green(u, 7, last_green_uri="U3", last_green_request_id=rid(3))
    await u.run(RecordController, message(7))
    assert u.store.get_queue(Q).last_green_request_id == rid(7)
    older = Units(tmp_path / "older")
    green(older, 7, last_green_uri="U9", last_green_request_id=rid(9))
    version = older.store.get_queue(Q).version
    await older.run(RecordController, message(7))
    assert older.store.get_fact(Q, "U7").is_green
    assert older.store.get_queue(Q).version == version and older.sc.promoted == []


async def test_a_redelivery_retries_the_promotion(tmp_path: Path) -> None:
    u = Units(tmp_path)
    green(u)
    u.sc.unreachable = True  # the push fails after the bookmark moved
    await u.fails(RecordController, message(1))
    assert u.store.get_queue(Q).last_green_request_id == rid(1)
    u.sc.unreachable = False
    version = u.store.get_queue(Q).version
    await u.run(RecordController, message(1))
    assert u.sc.promoted == ["U1"] and u.store.get_queue(Q).version == version


async def test_a_failed_request_records_broken_and_touches_nothing_else(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState.FAILED)
    u.queue()
    await u.run(RecordController, message(1))
    assert u.store.get_fact(Q, "U1").degree == 1.0
    assert "update_queue" not in u.store.calls and u.sc.promoted == []
    await u.run(RecordController, message(1))  # a redelivery adopts the same fact
    assert u.store.fact_count(Q) == 1


async def test_a_fact_from_another_request_is_an_invariant_error(tmp_path: Path) -> None:
    u = Units(tmp_path)
    green(u)
    other = ValidationFact(queue=Q, uri="U1", degree=1.0, request_id=rid(9), created_at_ms=1)
    u.store.create_fact(other)
    assert not errs.is_retryable(await u.fails(RecordController, message(1)))
    assert u.store.get_queue(Q).last_green_uri == ""


@pytest.mark.parametrize("state", ["cancelled", "superseded"])
async def test_no_verdict_no_fact(tmp_path: Path, state: str) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState(state))
    await u.run(RecordController, message(1))
    with pytest.raises(NotFoundError):
        u.store.get_fact(Q, "U1")
    assert "get_queue" not in u.store.calls


@pytest.mark.parametrize("state", ["accepted", "processing"])
async def test_an_unfinished_request_is_an_invariant_error(tmp_path: Path, state: str) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState(state))
    assert not errs.is_retryable(await u.fails(RecordController, message(1)))


async def test_a_bookmark_conflict_is_retried(tmp_path: Path) -> None:
    u = Units(tmp_path)
    green(u)
    row = u.store.get_queue(Q)
    u.store.inject("update_queue", lambda: SqlStorage.update_queue(u.store, row))
    await u.run(RecordController, message(1))
    assert u.store.get_queue(Q).last_green_request_id == rid(1) and u.sc.promoted == ["U1"]


async def test_a_malformed_bookmark_is_not_retried(tmp_path: Path) -> None:
    u = Units(tmp_path)
    green(u, last_green_request_id="not-a-request-id")
    assert not errs.is_retryable(await u.fails(RecordController, message(1)))
    assert u.store.get_fact(Q, "U1").is_green


async def test_promotion_of_a_dropped_commit_is_skipped(tmp_path: Path) -> None:
    u = Units(tmp_path)
    green(u)
    u.sc.rewrite(["U2", "U0"])  # U1 left the ref
    await u.run(RecordController, message(1))
    assert u.sc.promoted == [] and u.store.get_queue(Q).last_green_uri == "U1"


async def test_bad_payloads_are_user_errors(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState.SUCCEEDED)
    assert await u.fails(RecordController, "[]") == errs.Verdict.USER
    other = {"id": rid(1), "queue_name": "other/queue"}
    assert not errs.is_retryable(await u.fails(RecordController, other))


async def test_record_dlq_is_read_by_the_record_controller(tmp_path: Path) -> None:
    u = Units(tmp_path)
    pipeline = construct(
        MessageQueue(MemoryQueueStore()), u.deps, stages(), topic_names=TOPIC_NAMES
    )
    dlq = pipeline.controllers["stovepipe_record_dlq"]
    assert isinstance(dlq, RecordController) and dlq.name == "stovepipe-record-dlq"
    green(u)
    u.store.inject("create_fact", *[RuntimeError("disk full")] * 3)
    for _ in range(3):
        await u.fails(RecordController, message(1))
    await u.run(RecordController, message(1), group="stovepipe-record-dlq")
    assert u.store.get_fact(Q, "U1").is_green and u.sc.promoted == ["U1"]
