"""The orchestrator's bulk writes on SQLite and PostgreSQL: a burst of batch creations is all or
nothing, and a run's path sets and admissions are saved together, a lost race costing only its
own row."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sq.platform.errs import VersionMismatchError
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID
from sq.submitqueue.entity.pathset import PathSet
from sq.submitqueue.entity.request import ChangeInfo, Request, RequestState
from sq.submitqueue.orchestrator.storage import Creation, OrchestratorStorage
from support.databases import orchestrator_storage

Q = "q"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrchestratorStorage]:
    with orchestrator_storage(request.param, tmp_path) as store:
        yield store


def bid(n: int) -> BatchID:
    return BatchID(f"{Q}/batch/{n}")


def add(storage: OrchestratorStorage, n: int, state: RequestState) -> None:
    request = RequestID(f"{Q}/{n}")
    storage.create_request(Request(id=request, queue=Q, uris=(f"fake://x/{n}",), state=state))
    storage.create_batch(Batch(id=bid(n), queue=Q, contains=(request,)))


def creations(storage: OrchestratorStorage) -> list[Creation]:
    intake = storage.read_intake(Q)
    return [
        Creation(
            batch=b,
            dependencies=tuple(x.id for x in intake.creating if x.id < b.id),
            overtakes=(),
            requests=tuple(intake.requests[r] for r in b.contains),
        )
        for b in intake.creating
    ]


def test_a_burst_creates_every_batch_and_claims_its_requests(
    storage: OrchestratorStorage,
) -> None:
    for n in range(1, 5):
        add(storage, n, RequestState.VALIDATED)
    add(storage, 5, RequestState.BATCHED)  # claimed by a burst that crashed half-way long ago
    storage.associate(Q, f"{Q}/5", bid(5))
    intake = storage.read_intake(Q)
    assert [b.id for b in intake.creating] == [bid(n) for n in range(1, 6)]
    assert intake.associated == {(RequestID(f"{Q}/5"), bid(5))}
    created = storage.create_batches(Q, creations(storage), intake.associated)
    assert [b.state for b in created] == [BatchState.CREATED] * 5
    stored = [storage.get_batch(Q, bid(n)) for n in range(1, 6)]
    assert stored == created
    assert [storage.get_request(Q, f"{Q}/{n}").state for n in range(1, 6)] == (  # type: ignore[union-attr]
        [RequestState.BATCHED] * 5
    )
    assert [b.id for b in storage.batches_of_request(Q, f"{Q}/3")] == [bid(3)]
    after = storage.read_intake(Q)
    assert after.creating == ()


def test_a_burst_that_lost_a_race_writes_nothing(storage: OrchestratorStorage) -> None:
    for n in range(1, 5):
        add(storage, n, RequestState.VALIDATED)
    planned = creations(storage)
    three = storage.get_request(Q, f"{Q}/3")
    assert three is not None
    storage.update_request(three, RequestState.CANCELLING)  # a cancel won request 3's race
    with pytest.raises(VersionMismatchError):
        storage.create_batches(Q, planned)
    assert [storage.get_batch(Q, bid(n)).state for n in range(1, 5)] == (  # type: ignore[union-attr]
        [BatchState.CREATING] * 4
    )
    assert storage.get_request(Q, f"{Q}/1").state is RequestState.VALIDATED  # type: ignore[union-attr]
    assert storage.batches_of_request(Q, f"{Q}/1") == []


def test_a_burst_ends_batches_in_its_write_all_or_nothing(storage: OrchestratorStorage) -> None:
    for n in range(1, 4):
        add(storage, n, RequestState.VALIDATED)
    stale = storage.read_intake(Q).creating
    planned = creations(storage)[:1]
    failed = storage.transition_batch(stale[2], BatchState.FAILED)  # a reconciler got there first
    with pytest.raises(VersionMismatchError):
        storage.create_batches(Q, planned, frozenset(), stale[1:])
    assert [storage.get_batch(Q, bid(n)).state for n in range(1, 4)] == (  # type: ignore[union-attr]
        [BatchState.CREATING, BatchState.CREATING, failed.state]
    )
    assert storage.create_batches(Q, [], frozenset(), stale[1:2]) == []
    assert [b.id for b in storage.read_intake(Q).creating] == [bid(1)]
    ended = storage.get_batch(Q, bid(2))
    assert ended is not None
    assert (ended.state, ended.version) == (BatchState.CANCELLED, stale[1].version + 1)


def test_path_sets_and_admissions_saved_together_lose_only_the_stale_row(
    storage: OrchestratorStorage,
) -> None:
    for n in range(1, 4):
        add(storage, n, RequestState.BATCHED)
    storage.save_path_set(PathSet(queue=Q, head=bid(2)))  # another run created it first
    saved = storage.save_path_sets([PathSet(queue=Q, head=bid(n)) for n in range(1, 4)])
    assert [s is not None for s in saved] == [True, False, True]
    assert storage.get_path_set(Q, bid(3)) is not None
    batches = [storage.get_batch(Q, bid(n)) for n in range(1, 4)]
    assert all(b is not None for b in batches)
    storage.transition_batch(batches[1], BatchState.CREATED)  # type: ignore[arg-type]
    moved = storage.transition_batches([(b, BatchState.CANCELLING) for b in batches])  # type: ignore[misc]
    assert [b is not None for b in moved] == [True, False, True]
    assert storage.get_batch(Q, bid(2)).state is BatchState.CREATED  # type: ignore[union-attr]


def test_a_verdict_saves_its_path_set_and_state_or_neither(
    storage: OrchestratorStorage,
) -> None:
    add(storage, 1, RequestState.BATCHED)
    batch = storage.get_batch(Q, bid(1))
    assert batch is not None
    path_set = storage.save_path_set(PathSet(queue=Q, head=bid(1)))
    saved, moved = storage.commit_verdict(path_set, batch, BatchState.MERGING)
    assert saved is not None and saved.version == path_set.version + 1
    assert moved.state is BatchState.MERGING
    with pytest.raises(VersionMismatchError):  # the batch is stale now: the set is not saved
        storage.commit_verdict(saved, batch, BatchState.FAILED)
    assert storage.get_path_set(Q, bid(1)) == saved


def test_a_window_of_requests_is_created_claimed_and_advanced_in_bulk(
    storage: OrchestratorStorage,
) -> None:
    def request(n: int, uri: str) -> Request:
        return Request(id=RequestID(f"{Q}/{n}"), queue=Q, uris=(uri,))

    storage.create_request(request(1, "fake://x/a"))
    storage.put_cancel_intent(Q, f"{Q}/3", "")
    window = [request(1, "fake://x/other"), request(2, "fake://x/b"), request(3, "fake://x/a")]
    storage.create_requests(window)  # 1 was there: left as it was
    first = storage.get_request(Q, f"{Q}/1")
    assert first is not None
    assert first.uris == ("fake://x/a",)
    assert storage.cancel_intents(Q, [f"{Q}/{n}" for n in (1, 2, 3)]) == {f"{Q}/3": ""}
    found = storage.get_requests(Q, [f"{Q}/1", f"{Q}/2"])
    a, b = ChangeInfo(uri="fake://x/a"), ChangeInfo(uri="fake://x/b")
    storage.claim_changes_of([(found[f"{Q}/1"], [a]), (found[f"{Q}/2"], [b])])
    storage.claim_changes_of([(found[f"{Q}/1"], [a])])  # again: nothing new
    storage.claim_changes(window[2], [a])
    assert storage.claimants_of(Q, ["fake://x/a", "fake://x/b", "fake://x/c"]) == {
        "fake://x/a": [(f"{Q}/1", RequestState.STARTED), (f"{Q}/3", RequestState.STARTED)],
        "fake://x/b": [(f"{Q}/2", RequestState.STARTED)],
    }
    moves = [(found[f"{Q}/1"], RequestState.VALIDATED), (found[f"{Q}/2"], RequestState.VALIDATED)]
    assert [(r.state, r.version) for r in storage.advance_requests(moves)] == [
        (RequestState.VALIDATED, 2)
    ] * 2
    with pytest.raises(VersionMismatchError):  # 2 moved on since it was read
        storage.advance_requests([(found[f"{Q}/2"], RequestState.ERROR)])
    assert storage.get_requests(Q, [f"{Q}/2"])[f"{Q}/2"].state is RequestState.VALIDATED
    storage.next_batch_number(Q)
    batches = storage.create_lone_batches(Q, [found[f"{Q}/1"], found[f"{Q}/2"]])
    assert [(b.id, b.contains) for b in batches] == [
        (bid(2), (RequestID(f"{Q}/1"),)),
        (bid(3), (RequestID(f"{Q}/2"),)),
    ]
    assert storage.get_batch(Q, bid(3)) == batches[1]
    assert storage.next_batch_number(Q) == 4
