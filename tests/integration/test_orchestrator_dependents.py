"""The dependents a landing frees, found by one statement on SQLite and PostgreSQL: speculating,
depending on the landed batch, with every dependency finished and nothing overtaking them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, Priority
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.databases import orchestrator_storage

Q = "q"
S, M, OK, KO = (
    BatchState.SPECULATING,
    BatchState.MERGING,
    BatchState.SUCCEEDED,
    BatchState.FAILED,
)


@pytest.fixture(params=["sqlite", "postgresql"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OrchestratorStorage]:
    with orchestrator_storage(request.param, tmp_path) as store:
        yield store


def bid(n: int, queue: str = Q) -> BatchID:
    return BatchID(f"{queue}/batch/{n}")


def add(
    storage: OrchestratorStorage,
    n: int,
    state: BatchState,
    deps: tuple[int, ...] = (),
    *,
    overtakes: tuple[int, ...] = (),
    queue: str = Q,
) -> None:
    storage.create_batch(
        Batch(
            id=bid(n, queue),
            queue=queue,
            dependencies=tuple(bid(d, queue) for d in deps),
            state=state,
            priority=Priority.HIGH if overtakes else Priority.NORMAL,
            overtakes=tuple(bid(o, queue) for o in overtakes),
        )
    )


def test_only_the_dependents_whose_dependencies_all_finished_are_freed(
    storage: OrchestratorStorage,
) -> None:
    add(storage, 1, OK)  # the landing
    add(storage, 2, OK)
    add(storage, 3, KO)
    add(storage, 4, S, (2, 1))  # freed
    add(storage, 5, S, (1, 2, 4))  # 4 is still in flight
    add(storage, 6, S, (2,))  # does not depend on 1
    add(storage, 7, M, (1,))  # not speculating
    add(storage, 8, S, (1,))  # held: 9 overtakes it
    add(storage, 9, S, overtakes=(8,))
    add(storage, 10, S, (1, 3))  # freed: a failed dependency is finished too
    add(storage, 11, S, (1,), queue="other")  # another queue's batch of the same number
    add(storage, 1, OK, queue="other")
    freed = storage.dependents_freed_by(Q, bid(1))
    assert [b.id for b in freed] == [bid(4), bid(10)]
    assert freed[0].dependencies == (bid(2), bid(1))


def test_a_dependent_overtaken_by_a_finished_batch_is_freed(
    storage: OrchestratorStorage,
) -> None:
    add(storage, 1, OK)
    add(storage, 2, S, (1,))
    add(storage, 3, OK, overtakes=(2,))
    assert [b.id for b in storage.dependents_freed_by(Q, bid(1))] == [bid(2)]
