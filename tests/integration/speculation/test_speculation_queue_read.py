"""The speculate run's one-transaction read, and batch change details, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.path import Assumption, make_path
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request
from sq.submitqueue.orchestrator.changes import BatchChanges
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.databases import orchestrator_storage

Q = "q"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrchestratorStorage]:
    with orchestrator_storage(request.param, tmp_path) as store:
        yield store


def bid(n: int) -> BatchID:
    return BatchID(f"{Q}/batch/{n}")


def batch(n: int, state: BatchState, *deps: int) -> Batch:
    return Batch(
        id=bid(n),
        queue=Q,
        contains=(RequestID(f"{Q}/{n}"),),
        dependencies=tuple(bid(d) for d in deps),
        state=state,
    )


def entry(head: int, dep: int, assumption: Assumption, status: PathStatus, attempt: int = 1):  # type: ignore[no-untyped-def]
    path = make_path(str(bid(head)), (str(bid(dep)), assumption))
    return PathEntry(id=path.id, path=path, status=status, attempt=attempt)


def test_read_queue_returns_what_the_run_folds(storage: OrchestratorStorage) -> None:
    for b in (
        batch(1, BatchState.SUCCEEDED),
        batch(10, BatchState.SPECULATING, 1),
        batch(2, BatchState.FAILED),
        batch(3, BatchState.CANCELLING, 2),
        batch(4, BatchState.CREATED),
    ):
        storage.create_batch(b)
    running = entry(10, 1, Assumption.SUCCEEDS, PathStatus.BUILDING)
    unlinked = entry(10, 1, Assumption.FAILS, PathStatus.PENDING)
    finished = entry(3, 2, Assumption.FAILS, PathStatus.PASSED)
    retried = dataclasses.replace(
        entry(3, 2, Assumption.SUCCEEDS, PathStatus.CANCELLING, attempt=2), lost=1
    )
    storage.save_path_set(PathSet(queue=Q, head=bid(10), paths=(running, unlinked)))
    storage.save_path_set(PathSet(queue=Q, head=bid(3), paths=(finished, retried)))
    build = Build(
        id=BuildID("b-running"),
        batch_id=bid(10),
        path_id=running.id,
        attempt=1,
        status=BuildStatus.RUNNING,
    )
    storage.create_build(Q, build)
    storage.link_build(Q, running.id, 1, build.id)
    storage.link_build(Q, finished.id, 1, BuildID("never-looked-up"))
    storage.link_build(Q, retried.id, 1, BuildID("an-older-attempt"))
    storage.link_build(Q, retried.id, 2, BuildID("row-missing"))

    rows = storage.read_queue(Q)

    assert [b.id for b in rows.in_flight] == [bid(3), bid(4), bid(10)]  # by number
    assert [b.id for b in rows.finalized] == [bid(2), bid(1)]  # in the order they are named
    assert set(rows.path_sets) == {bid(3), bid(10)}
    assert rows.path_sets[bid(3)].paths[1].lost == 1
    assert rows.builds == {running.execution: build, retried.execution: None}
    assert storage.read_queue("other").in_flight == ()


def test_read_queue_handles_more_keys_than_one_in_list(storage: OrchestratorStorage) -> None:
    for n in range(1, 1201):
        storage.create_batch(batch(n, BatchState.SPECULATING))
    assert len(storage.read_queue(Q).in_flight) == 1200


def test_claimed_changes_waits_for_every_claim_and_then_is_cached(
    storage: OrchestratorStorage,
) -> None:
    request = Request(id=RequestID(f"{Q}/1"), queue=Q, uris=("fake://x/a", "fake://x/b"))
    storage.create_request(request)
    first = ChangeInfo(
        uri="fake://x/a", author="ann", files=(ChangedFile(path="web/a.py", lines_added=3),)
    )
    storage.claim_changes(request, [first])
    changes = BatchChanges(storage)
    b = batch(1, BatchState.SPECULATING)
    assert storage.claimed_changes(Q, b.contains) is None  # fake://x/b has no claim yet
    assert changes.lines(b) == 3
    second = ChangeInfo(uri="fake://x/b", files=(ChangedFile(path="api/b.py", lines_deleted=2),))
    storage.claim_changes(request, [second])
    assert storage.claimed_changes(Q, b.contains) == [first, second]
    assert changes.lines(b) == 5  # the incomplete read was not kept
    features = changes.features(b)
    assert (features.author, features.areas, features.lines_changed) == (
        "ann",
        frozenset({"web", "api"}),
        5,
    )
    storage.claim_changes(
        Request(id=RequestID(f"{Q}/1"), queue=Q, uris=("fake://x/c",)),
        [ChangeInfo(uri="fake://x/c", files=(ChangedFile(path="x", lines_added=9),))],
    )
    assert changes.lines(b) == 5  # complete claims never change, so they are cached
    assert storage.claimed_changes(Q, (RequestID(f"{Q}/404"),)) is None


def test_requests_scored_alone_under_one_placeholder_id_each_read_their_own_changes(
    storage: OrchestratorStorage,
) -> None:
    # The batch stage scores each waiting request as a one-request batch under one placeholder
    # id (`controller.batch.member_probability`): the cache must not give the second request
    # the first one's author and areas.
    changes = BatchChanges(storage)
    placeholder = batch(0, BatchState.CREATING)
    seen = []
    for n, (author, path) in enumerate((("ann", "web/a.py"), ("bob", "api/b.py")), start=1):
        request = Request(id=RequestID(f"{Q}/{n}"), queue=Q, uris=(f"fake://x/{n}",))
        storage.create_request(request)
        info = ChangeInfo(uri=f"fake://x/{n}", author=author, files=(ChangedFile(path=path),))
        storage.claim_changes(request, [info])
        alone = dataclasses.replace(placeholder, contains=(request.id,))
        seen.append(changes.features(alone))
    assert [(f.author, f.areas) for f in seen] == [
        ("ann", frozenset({"web"})),
        ("bob", frozenset({"api"})),
    ]


def test_reads_after_a_change_see_it_though_unchanged_rows_are_reused(
    storage: OrchestratorStorage,
) -> None:
    for b in (batch(1, BatchState.SUCCEEDED), batch(2, BatchState.SPECULATING, 1)):
        storage.create_batch(b)
    storage.create_batch(batch(3, BatchState.SPECULATING, 1, 2))
    path = entry(3, 2, Assumption.SUCCEEDS, PathStatus.BUILDING)
    saved = storage.save_path_set(PathSet(queue=Q, head=bid(3), paths=(path,)))
    first = storage.read_queue(Q)
    listed = storage.list_batches(Q, [BatchState.SPECULATING])
    assert [b.state for b in listed] == [BatchState.SPECULATING, BatchState.SPECULATING]

    two = next(b for b in first.in_flight if b.id == bid(2))
    storage.transition_batch(two, BatchState.FAILED)
    passed = dataclasses.replace(path, status=PathStatus.PASSED)
    storage.save_path_set(dataclasses.replace(saved, paths=(passed,)))
    again = storage.read_queue(Q)

    assert [b.id for b in again.in_flight] == [bid(3)]
    assert {b.id: b.state for b in again.finalized} == {
        bid(1): BatchState.SUCCEEDED,
        bid(2): BatchState.FAILED,
    }
    assert [e.status for e in again.path_sets[bid(3)].paths] == [PathStatus.PASSED]
    assert again.in_flight[0] is first.in_flight[1]  # unchanged: parsed once
    assert [b.id for b in storage.list_batches(Q, [BatchState.SPECULATING])] == [bid(3)]
    assert [b.state for b in storage.list_batches(Q, [BatchState.FAILED])] == [BatchState.FAILED]
