"""DLQ reconcilers (spec §7.7): fail closed, give the slot back, never wedge the queue."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from sq.platform import errs
from sq.stovepipe.controller.reconcile import (
    AnalyzeReconciler,
    BuildSignalReconciler,
    RequestReconciler,
)
from sq.stovepipe.deps import ProjectSetup, QueueSetup
from sq.stovepipe.entity import BuildStatus, FailureReason, RequestState
from sq.stovepipe.messages import RECORD
from sq.stovepipe.storage import SqlStorage
from support.stovepipe_units import PROCESSING, Q, Units, message, rid

pytestmark = pytest.mark.anyio


async def test_an_accepted_request_fails_without_touching_the_queue(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.request(1)
    await u.run(RequestReconciler, message(1))
    assert (u.get(1).state, u.get(1).failure_reason) == ("failed", FailureReason.RECONCILED)
    assert "get_queue" not in u.store.calls


async def test_a_processing_request_gives_its_slot_back_first(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue(in_flight_count=1)
    u.request(1, **PROCESSING)
    await u.run(RequestReconciler, message(1))
    assert (u.get(1).state, u.store.get_queue(Q).in_flight_count) == ("failed", 0)


@pytest.mark.parametrize("state", ["superseded", "succeeded", "failed", "cancelled"])
async def test_finished_or_missing_requests_are_acked(tmp_path: Path, state: str) -> None:
    u = Units(tmp_path)
    u.request(1, RequestState(state))
    calls = len(u.store.calls)
    await u.run(RequestReconciler, message(1))
    await u.run(RequestReconciler, message(2))
    assert u.writes()[calls:] == [] and u.get(1).state == state


async def test_conflicts_and_missing_rows(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue(in_flight_count=1)
    request = u.request(1, **PROCESSING)
    u.store.inject("update_request", lambda: SqlStorage.update_request(u.store, request))
    assert errs.is_retryable(await u.fails(RequestReconciler, message(1)))
    assert u.get(1).state == "processing"  # retried; the slot went back already (clamped later)
    row = u.store.get_queue(Q)
    u.queue(in_flight_count=1)
    u.store.inject(
        "update_queue",
        lambda: SqlStorage.update_queue(u.store, replace(row, version=row.version + 1)),
    )
    await u.run(RequestReconciler, message(1))
    assert (u.get(1).state, u.store.get_queue(Q).in_flight_count) == ("failed", 0)
    bare = Units(tmp_path / "bare")
    bare.request(1, **PROCESSING)  # no queue row at all
    await bare.run(RequestReconciler, message(1))
    assert bare.get(1).state == "failed"


async def test_a_malformed_dlq_payload_is_never_acked(tmp_path: Path) -> None:
    u = Units(tmp_path)
    for payload in ("nope", {"id": "", "queue_name": Q}):
        await u.fails(RequestReconciler, payload)


async def test_buildsignal_dlq_fails_the_build_s_request(tmp_path: Path) -> None:
    u = Units(tmp_path)
    u.queue(in_flight_count=1)
    b = u.build(u.request(1, **PROCESSING))
    await u.run(BuildSignalReconciler, message(b.id))
    assert (u.get(1).state, u.store.get_queue(Q).in_flight_count) == ("failed", 0)
    assert len(u.ctx.on(RECORD)) == 1  # record writes the fail-closed (broken) fact
    await u.run(BuildSignalReconciler, message("no-such-build"))
    u.store.inject("get_build", RuntimeError("database gone"))
    await u.fails(BuildSignalReconciler, message(b.id))


async def test_buildsignal_dlq_keeps_the_request_when_the_slot_cannot_go_back(
    tmp_path: Path,
) -> None:
    u = Units(tmp_path)
    u.queue(in_flight_count=1)
    b = u.build(u.request(1, **PROCESSING))
    u.store.inject("get_queue", RuntimeError("database gone"))
    await u.fails(BuildSignalReconciler, message(b.id))
    assert u.get(1).state == "processing"


async def test_buildsignal_dlq_records_an_outcome_it_finds(tmp_path: Path) -> None:
    """spec §8.11: the record publish was what failed; the fact must not be lost."""
    u = Units(tmp_path)
    b = u.build(u.request(1, RequestState.SUCCEEDED), BuildStatus.SUCCEEDED)
    await u.run(BuildSignalReconciler, message(b.id))
    assert u.ctx.on(RECORD) == [(rid(1), rid(1), message(1, project=""))]


PROJECTS = QueueSetup(
    name=Q,
    full_command="make",
    projects=(ProjectSetup(name="a", command="x"), ProjectSetup(name="b")),
)


async def test_a_project_build_that_cannot_finish_fails_its_project(tmp_path: Path) -> None:
    u = Units(tmp_path, PROJECTS)
    request = u.request(1, RequestState.FAILED)
    await u.run(RequestReconciler, message(1, project="a"))
    assert u.store.get_fact(Q, "U1", "a").degree == 1.0
    assert u.get(1).state == "failed" and u.store.fact_count(Q) == 1
    u.build(request, id="pb", project="b")
    await u.run(BuildSignalReconciler, message("pb"))
    assert u.store.get_fact(Q, "U1", "b").degree == 1.0


async def test_analyze_dlq_fails_every_unjudged_project_closed(tmp_path: Path) -> None:
    u = Units(tmp_path, PROJECTS)
    u.request(1, RequestState.FAILED)
    await u.run(RequestReconciler, message(1, project="a"))  # a already judged
    await u.run(AnalyzeReconciler, message(1))
    facts = {p: f.degree for p, f in u.store.facts_at(Q, "U1").items()}
    assert facts == {"": 1.0, "a": 1.0, "b": 1.0}
    green = Units(tmp_path / "green", PROJECTS)
    green.request(1, RequestState.SUCCEEDED)
    await green.run(AnalyzeReconciler, message(1))
    assert set(green.store.facts_at(Q, "U1")) == {"a", "b"}  # record wrote the whole-repo one
