"""Batching's storage on SQLite and PostgreSQL: a request waits once and never while a live
batch holds it; closing a batch takes its members' waiting rows or nothing; a split is recorded
once with its parts (doc/batching-queue.md)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.databases import orchestrator_storage

Q = "q"


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrchestratorStorage]:
    with orchestrator_storage(request.param, tmp_path) as store:
        yield store


def batch(number: int, *members: str) -> Batch:
    return Batch(
        id=BatchID(f"{Q}/batch/{number}"),
        queue=Q,
        contains=tuple(RequestID(r) for r in members),
    )


def test_waiting_rows_come_back_in_queue_order_once_each(storage: OrchestratorStorage) -> None:
    assert storage.enqueue_waiting(Q, "q/2", 10)
    assert storage.enqueue_waiting(Q, "q/10", 10)
    assert storage.enqueue_waiting(Q, "q/1", 20)
    assert storage.enqueue_waiting(Q, "q/2", 30)  # a redelivery: still waiting, unchanged
    assert [(w.request, w.since_ms) for w in storage.waiting(Q)] == [
        ("q/2", 10),
        ("q/10", 10),
        ("q/1", 20),
    ]


def test_closing_takes_every_member_or_nothing(storage: OrchestratorStorage) -> None:
    for r in ("q/1", "q/2", "q/3"):
        storage.enqueue_waiting(Q, r, 0)
    assert storage.close_waiting(batch(1, "q/1", "q/2"))
    assert not storage.close_waiting(batch(2, "q/2", "q/3"))  # q/2 was taken
    assert storage.get_batch(Q, "q/batch/2") is None
    assert [w.request for w in storage.waiting(Q)] == ["q/3"]
    assert [b.id for b in storage.batches_of_request(Q, "q/2")] == ["q/batch/1"]


def test_a_request_held_by_a_live_batch_does_not_wait_again(
    storage: OrchestratorStorage,
) -> None:
    storage.enqueue_waiting(Q, "q/1", 0)
    assert storage.close_waiting(batch(1, "q/1"))
    assert not storage.enqueue_waiting(Q, "q/1", 5)  # a redelivered arrival
    assert storage.waiting(Q) == []
    live = storage.get_batch(Q, "q/batch/1")
    assert live is not None
    storage.transition_batch(live, BatchState.FAILED)
    assert storage.enqueue_waiting(Q, "q/1", 6)  # its batch ended: it may wait again


def test_a_split_is_recorded_once_with_its_parts(storage: OrchestratorStorage) -> None:
    failed = batch(1, "q/1", "q/2", "q/3")
    storage.create_batch(failed)
    first = storage.split_batch(failed, [batch(2, "q/1"), batch(3, "q/2", "q/3")])
    again = storage.split_batch(failed, [batch(4, "q/1", "q/2"), batch(5, "q/3")])
    assert [b.id for b in first] == [b.id for b in again] == ["q/batch/2", "q/batch/3"]
    assert storage.get_batch(Q, "q/batch/4") is None
    assert [b.id for b in storage.batches_of_request(Q, "q/3")] == ["q/batch/3"]


def test_an_arrival_is_counted_once_and_forgotten_after_the_window(
    storage: OrchestratorStorage,
) -> None:
    assert storage.enqueue_waiting(Q, "q/1", 100, True)
    assert storage.enqueue_waiting(Q, "q/1", 150, True)  # a redelivery: not a second arrival
    assert storage.enqueue_waiting(Q, "q/2", 200, True)
    assert storage.enqueue_waiting(Q, "q/3", 250)  # a queue without deep batching counts nothing
    assert storage.enqueue_waiting("other", "other/1", 200, True)
    assert storage.arrivals(Q, 0) == 2
    assert storage.close_waiting(batch(1, "q/1"))
    assert storage.arrivals(Q, 0) == 2  # closing a batch does not forget its arrivals
    assert storage.arrivals(Q, 150) == 1  # q/1's arrival at 100 is older: forgotten
    assert storage.arrivals(Q, 0) == 1
    assert storage.arrivals("other", 0) == 1


def test_an_arrival_noted_without_waiting_is_counted_once(storage: OrchestratorStorage) -> None:
    storage.note_arrivals(Q, ["q/1", "q/2", "q/1"], 100)
    storage.note_arrivals(Q, ["q/2"], 200)  # a redelivery
    assert storage.enqueue_waiting(Q, "q/1", 300, True)  # then it waits: still one arrival
    assert storage.waiting(Q)[0].request == "q/1"
    assert storage.arrivals(Q, 0) == 2
    assert storage.arrivals(Q, 100) == 0  # both noted at 100
