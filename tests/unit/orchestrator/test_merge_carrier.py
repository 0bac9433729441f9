"""A merging head carrying a failed dependency (pending-failure depth): its stored mark survives
the round trip, picks the winner over the landing-early reading, and names the carrier."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from sq.platform import migrations
from sq.platform.clock import FakeClock
from sq.platform.db import create_engine
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.orchestrator.controller.merge import carrier_of, winning_entry
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, Profiles
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, schema

pytestmark = pytest.mark.anyio

Q = "q"
D, H = BatchID("q/batch/1"), BatchID("q/batch/2")


def passed(assumption: Assumption) -> PathEntry:
    path = SpeculationPath(head=H, dependencies=(PathDependency(batch=D, assumption=assumption),))
    return PathEntry(id=path.id, path=path, status=PathStatus.PASSED)


def deps_with(tmp_path: Path, d_state: BatchState, *, marked: bool) -> OrchestratorDeps:
    engine = create_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    store = OrchestratorStorage(engine)
    store.create_batch(Batch(id=D, queue=Q, state=d_state))
    store.create_batch(Batch(id=H, queue=Q, dependencies=(D,), state=BatchState.MERGING))
    on_d = passed(Assumption.SUCCEEDS)
    if marked:
        on_d = dataclasses.replace(on_d, carries=D)
    store.save_path_set(PathSet(queue=Q, head=H, paths=(passed(Assumption.FAILS), on_d)))
    return OrchestratorDeps(storage=store, profiles=Profiles([]), clock=FakeClock())


async def test_the_marked_entry_wins_and_names_its_carrier(tmp_path: Path) -> None:
    deps = deps_with(tmp_path, BatchState.SPECULATING, marked=True)
    head = deps.storage.get_batch(Q, H)
    assert head is not None
    _, winner = await winning_entry(deps, head)
    assert winner is not None
    assert winner.carries == D
    assert [d.assumption for d in winner.path.dependencies] == [Assumption.SUCCEEDS]
    failed = deps.storage.get_batch(Q, D)
    assert failed is not None
    carrier = await carrier_of(deps, failed)
    assert carrier is not None
    assert carrier.id == H


@pytest.mark.parametrize(
    ("d_state", "marked"), [(BatchState.SPECULATING, False), (BatchState.FAILED, True)]
)
async def test_no_carrier_without_a_live_mark(
    tmp_path: Path, d_state: BatchState, marked: bool
) -> None:
    deps = deps_with(tmp_path, d_state, marked=marked)
    failed = deps.storage.get_batch(Q, D)
    assert failed is not None
    assert await carrier_of(deps, failed) is None
