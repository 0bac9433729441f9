"""Preemption end to end in the real orchestrator: the value speculator's `cancel` proposal goes
through check and dispatch (entry `cancelling`), the build poll stops the build in the runner,
the next speculate run folds the `cancelled` build into the entry, and the freed slot builds a
denser head. Values as in test_orchestrator_value.py: B[A=f] 0.09, C[] 0.9, hysteresis 3.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.platform.clock import Clock
from sq.submitqueue.entity.pathset import PathStatus
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
)
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator
from sq.submitqueue.orchestrator.changes import BatchChanges
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio

B, C = "q/batch/2", "q/batch/3"


def value_speculator(scorer: Scorer, budget: int, clock: Clock) -> ValueSpeculator:
    return ValueSpeculator(scorer, ValueSettings(budget=budget, threshold=0.05), clock=clock.now_ms)


def by_file(storage: OrchestratorStorage) -> ConflictAnalyzer:
    return PathOverlapConflictAnalyzer(BatchChanges(storage).files, Granularity.FILE)


async def test_the_preempted_hedge_is_a_cancelled_build_and_its_slot_builds_c(
    tmp_path: Path,
) -> None:
    s = Stack(tmp_path, budget=3, analyzer_for=by_file, speculator=value_speculator)
    await s.start()
    await s.land("a", files="x.py")
    await s.land("b", files="x.py")
    await s.settle()
    hedge = next(
        r
        for r in s.runner.running()
        if r.labels["head"] == B and not any("/a" in layer.name for layer in r.layers)
    )
    await s.land("c", files="y.py")
    await s.settle()

    assert s.runner.cancelled == [hedge.build_id]
    assert (await s.runner.status(hedge.build_id)).state is BuildState.CANCELLED
    b_set = s.storage.get_path_set(QUEUE, B)
    assert b_set is not None
    cancelled = [e for e in b_set.paths if e.status is PathStatus.CANCELLED]
    assert len(cancelled) == 1
    linked = s.storage.linked_build(QUEUE, cancelled[0].id, cancelled[0].attempt)
    assert linked == hedge.build_id
    assert [r.labels["head"] for r in s.runner.running()].count(C) == 1
    assert len(s.runner.running()) == 3  # A, B[A=s], and C in the hedge's slot
    assert s.dead_letters() == []
    await s.stop()
