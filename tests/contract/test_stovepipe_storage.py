"""Stovepipe's storage contract (spec §7.8, and phase 2's stores) on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.platform.db import create_engine
from sq.platform.migrations import upgrade
from sq.stovepipe.entity import (
    Build,
    BuildStatus,
    BuildStrategy,
    FailureReason,
    Queue,
    Request,
    RequestState,
    ValidationFact,
    compare_request_ids,
)
from sq.stovepipe.entity.project import Analysis, AnalysisState
from sq.stovepipe.entity.run import BuildRun
from sq.stovepipe.storage import (
    AlreadyExistsError,
    NotFoundError,
    SqlStorage,
    VersionMismatchError,
    schema,
)
from support.databases import fresh_postgres_database, schema_drift

Q = "monorepo/main"


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStorage]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'sp.db'}")
        upgrade(engine, schema())
        yield SqlStorage(engine)
        engine.dispose()
        return
    with fresh_postgres_database() as url:
        engine = create_engine(url)
        upgrade(engine, schema())
        yield SqlStorage(engine)
        engine.dispose()


def test_queue_rows_are_created_once_and_written_by_version(store: SqlStorage) -> None:
    store.create_queue(Queue(name=Q))
    with pytest.raises(AlreadyExistsError):
        store.create_queue(Queue(name=Q))
    with pytest.raises(NotFoundError):
        store.get_queue("other")
    v2 = store.update_queue(replace(store.get_queue(Q), in_flight_count=1, latest_request_id="x"))
    assert store.get_queue(Q) == v2 and v2.version == 2
    with pytest.raises(VersionMismatchError):
        store.update_queue(replace(v2, version=1))
    with pytest.raises(VersionMismatchError):
        store.update_queue(Queue(name="missing"))


def test_requests_builds_and_uri_mappings(store: SqlStorage) -> None:
    r = store.create_request(Request(id=f"{Q}/1", queue=Q, uri="U", state=RequestState.ACCEPTED))
    with pytest.raises(AlreadyExistsError):
        store.create_request(r)
    admitted = replace(
        r, state=RequestState.PROCESSING, build_strategy=BuildStrategy.FULL, base_uri=""
    )
    assert store.update_request(admitted) == store.get_request(Q, r.id)
    with pytest.raises(VersionMismatchError):
        store.update_request(admitted)
    store.create_request_uri(Q, "U", r.id)
    with pytest.raises(AlreadyExistsError):
        store.create_request_uri(Q, "U", f"{Q}/2")
    store.create_request_uri("other/q", "U", "other/q/1")
    assert store.get_request_id_by_uri(Q, "U") == r.id
    b = store.create_build(Build(id="b1", queue=Q, request_id=r.id, status=BuildStatus.ACCEPTED))
    with pytest.raises(AlreadyExistsError):
        store.create_build(b)
    assert store.update_build(replace(b, status=BuildStatus.RUNNING)).version == 2
    assert store.get_build(Q, "b1").status == BuildStatus.RUNNING


def test_the_first_fact_wins_and_queues_do_not_leak(store: SqlStorage) -> None:
    fact = ValidationFact(queue=Q, uri="U", degree=0.0, request_id=f"{Q}/1", created_at_ms=5)
    store.create_fact(fact)
    with pytest.raises(AlreadyExistsError):
        store.create_fact(replace(fact, degree=1.0))
    assert store.get_fact(Q, "U").degree == 0.0
    store.create_fact(replace(fact, project="proj", degree=1.0))
    store.create_fact(replace(fact, queue="other/q", degree=1.0))
    assert store.get_fact(Q, "U", "proj").degree == 1.0
    assert store.get_fact(Q, "U").is_green
    with pytest.raises(NotFoundError):
        store.get_fact(Q, "V")


def test_request_ids_compare_by_number() -> None:
    assert compare_request_ids(Q, f"{Q}/9", f"{Q}/10") == -1
    assert compare_request_ids(Q, f"{Q}/10", f"{Q}/7") == 1
    assert compare_request_ids(Q, "junk", "junk") == 0
    with pytest.raises(ValueError, match="does not match"):
        compare_request_ids(Q, "other/1", f"{Q}/2")


def test_builds_keep_their_project_and_failure_reason(store: SqlStorage) -> None:
    b = store.create_build(
        Build(id="b1", queue=Q, request_id=f"{Q}/1", status=BuildStatus.ACCEPTED, project="p")
    )
    failed = replace(b, status=BuildStatus.FAILED, failure_reason=FailureReason.DEADLINE)
    store.update_build(failed)
    assert store.get_build(Q, "b1") == replace(failed, version=2)


def test_project_heads_are_per_queue_and_project(store: SqlStorage) -> None:
    head = store.get_or_create_project_head(Q, "a")
    assert store.get_or_create_project_head(Q, "a") == head
    moved = store.update_project_head(replace(head, last_green_uri="U", last_green_request_id="r"))
    with pytest.raises(VersionMismatchError):
        store.update_project_head(replace(head, last_green_uri="V"))
    store.get_or_create_project_head("other/q", "a")
    assert store.project_heads(Q) == {"a": moved}
    with pytest.raises(NotFoundError):
        store.get_project_head(Q, "b")


def test_the_first_analysis_plan_wins(store: SqlStorage) -> None:
    plan = Analysis(
        queue=Q, request_id=f"{Q}/1", uri="U", planned=("a", "b"), state=AnalysisState.ATTRIBUTING
    )
    store.create_analysis(plan)
    with pytest.raises(AlreadyExistsError):
        store.create_analysis(replace(plan, planned=("c",)))
    assert store.get_analysis(Q, plan.request_id) == plan
    widened = replace(plan, planned=("a", "b", "c"), state=AnalysisState.WIDENED)
    assert store.update_analysis(widened) == replace(widened, version=2)
    with pytest.raises(VersionMismatchError):
        store.update_analysis(widened)
    empty = replace(plan, request_id=f"{Q}/2", planned=())
    assert store.create_analysis(empty) == store.get_analysis(Q, empty.request_id)


def test_reads_for_the_query_api(store: SqlStorage) -> None:
    for n, state in ((1, RequestState.SUCCEEDED), (2, RequestState.FAILED)):
        store.create_request(Request(id=f"{Q}/{n}", queue=Q, uri=f"U{n}", state=state))
        for project, degree in (("", 0.0), ("a", float(n - 1))):
            fact = ValidationFact(
                queue=Q,
                uri=f"U{n}",
                project=project,
                degree=degree,
                request_id=f"{Q}/{n}",
                created_at_ms=n,
            )
            store.create_fact(fact)
    assert set(store.facts_at(Q, "U2")) == {"", "a"}
    history = store.project_facts(Q, "a", 10)
    assert [(f.uri, f.degree, r.id) for f, r in history] == [
        ("U2", 1.0, f"{Q}/2"),
        ("U1", 0.0, f"{Q}/1"),
    ]
    assert [f.uri for f, _ in store.project_facts(Q, "a", 10, before_seq=2)] == ["U1"]
    assert store.fact_count(Q, "a") == 2 and store.fact_count(Q) == 4


def _run(build_id: str, owner: str, **changes: object) -> BuildRun:
    run = BuildRun(
        queue=Q, build_id=build_id, owner=owner, state=BuildState.RUNNING, heartbeat_ms=1
    )
    return replace(run, **changes)  # type: ignore[arg-type]


def test_a_build_run_is_recorded_then_taken_over_by_whoever_triggers_it_again(
    store: SqlStorage,
) -> None:
    assert store.get_run(Q, "b1") is None
    store.record_run(_run("b1", "a"))
    assert store.get_run(Q, "b1") == _run("b1", "a")
    store.request_cancel(Q, "b1")
    store.record_run(_run("b1", "b", heartbeat_ms=7))
    assert store.get_run(Q, "b1") == _run("b1", "b", heartbeat_ms=7)
    assert store.get_run("other", "b1") is None


def test_only_the_owner_concludes_its_run_and_the_first_verdict_stands(store: SqlStorage) -> None:
    store.record_run(_run("b1", "a"))
    assert not store.finish_run(Q, "b1", "b", BuildState.FAILED, "", 5)
    assert store.finish_run(Q, "b1", "a", BuildState.PASSED, "ok", 5)
    assert not store.finish_run(Q, "b1", "a", BuildState.CANCELLED, "", 6)
    assert store.get_run(Q, "b1") == _run(
        "b1", "a", state=BuildState.PASSED, reason="ok", heartbeat_ms=5
    )


def test_a_heartbeat_renews_the_owners_unfinished_runs_and_returns_those_to_cancel(
    store: SqlStorage,
) -> None:
    store.record_run(_run("b1", "a"))
    store.record_run(_run("b2", "a"))
    store.record_run(_run("b3", "a", state=BuildState.PASSED))
    store.record_run(_run("b4", "b"))
    store.request_cancel(Q, "b2")
    store.request_cancel(Q, "b4")
    assert [r.build_id for r in store.beat_runs("a", 50)] == ["b2"]
    beats = {b: store.get_run(Q, b).heartbeat_ms for b in ("b1", "b2", "b3", "b4")}  # type: ignore[union-attr]
    assert beats == {"b1": 50, "b2": 50, "b3": 1, "b4": 1}


def test_the_migrations_build_exactly_the_declared_tables(tmp_path: Path) -> None:
    assert schema_drift(f"sqlite:///{tmp_path / 'sp.db'}", schema()) == []
