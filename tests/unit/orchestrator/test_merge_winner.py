"""The merge stage finds the path the speculate run chose to land, early landings included."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.clock import FakeClock
from sq.platform.db import create_engine
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.orchestrator.controller.merge import winning_entry
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema

pytestmark = pytest.mark.anyio

Q = "q"
D, H = BatchID("q/batch/1"), BatchID("q/batch/2")


def storage(tmp_path: Path) -> OrchestratorStorage:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    return OrchestratorStorage(engine)


def passed(assumption: Assumption) -> PathEntry:
    path = SpeculationPath(head=H, dependencies=(PathDependency(batch=D, assumption=assumption),))
    return PathEntry(id=path.id, path=path, status=PathStatus.PASSED)


@pytest.mark.parametrize(
    ("d_state", "wanted"),
    [
        (BatchState.SPECULATING, Assumption.FAILS),  # landing early: the tree without D
        (BatchState.FAILED, Assumption.FAILS),
        (BatchState.SUCCEEDED, Assumption.SUCCEEDS),  # D landed first: the path built on D
    ],
)
async def test_the_winner_of_a_merging_head(
    tmp_path: Path, d_state: BatchState, wanted: Assumption
) -> None:
    store = storage(tmp_path)
    store.create_batch(Batch(id=D, queue=Q, state=d_state))
    head = Batch(id=H, queue=Q, dependencies=(D,), state=BatchState.MERGING)
    store.create_batch(head)
    store.save_path_set(
        PathSet(queue=Q, head=H, paths=(passed(Assumption.SUCCEEDS), passed(Assumption.FAILS)))
    )
    deps = OrchestratorDeps(storage=store, profiles=Profiles([]), clock=FakeClock())

    _, winner = await winning_entry(deps, head)

    assert winner is not None
    assert [d.assumption for d in winner.path.dependencies if d.batch == D] == [wanted]
