"""The value speculator in the real orchestrator: a threshold on what is funded, and preemption.

Every change lands with 0.9 and builds cost the same. A conflicts with B (they touch one file), C
touches another. Values (doc/speculation.md): A[] 1 x 0.9 x 2 = 1.8 (B waits on A), B[A=s]
0.9 x 0.9 = 0.81, B[A=f] 0.1 x 0.9 = 0.09, C[] 0.9.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.clock import Clock
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio


def value(threshold: float):  # type: ignore[no-untyped-def]
    def make(scorer: Scorer, budget: int, clock: Clock) -> ValueSpeculator:
        settings = ValueSettings(budget=budget, threshold=threshold)
        return ValueSpeculator(scorer, settings, clock=clock.now_ms)

    return make


def by_file(storage: OrchestratorStorage):  # type: ignore[no-untyped-def]
    from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
        Granularity,
        PathOverlapConflictAnalyzer,
    )
    from sq.submitqueue.orchestrator.changes import BatchChanges

    return PathOverlapConflictAnalyzer(BatchChanges(storage).files, Granularity.FILE)


async def started(tmp_path: Path, budget: int, threshold: float) -> Stack:
    stack = Stack(tmp_path, budget=budget, analyzer_for=by_file, speculator=value(threshold))
    await stack.start()
    return stack


def heads_built(s: Stack) -> list[str]:
    return [r.labels["head"] for r in s.runner.triggered]


async def test_a_hedge_below_the_threshold_is_not_funded(tmp_path: Path) -> None:
    s = await started(tmp_path, budget=4, threshold=0.1)
    a = await s.land("a", files="x.py")
    b = await s.land("b", files="x.py")
    await s.settle()
    # The standard speculator would spend a third slot on B[A=f]; its value is 0.09.
    assert len(s.runner.running()) == 2
    await s.release()
    assert s.order_landed() == [a, b]
    assert s.builds() == 2
    assert s.dead_letters() == []
    await s.stop()


async def test_a_cancelled_build_frees_its_slot_for_a_better_path(tmp_path: Path) -> None:
    s = await started(tmp_path, budget=3, threshold=0.05)
    a = await s.land("a", files="x.py")
    b = await s.land("b", files="x.py")
    await s.settle()
    assert sorted(heads_built(s)) == ["q/batch/1", "q/batch/2", "q/batch/2"]  # B[A=f] too
    c = await s.land("c", files="y.py")
    await s.settle()
    # C[] is worth 0.9, more than 3 times B[A=f]: the hedge is cancelled, C takes its slot.
    assert len(s.runner.cancelled) == 1
    assert heads_built(s)[-1] == "q/batch/3"
    assert len(s.runner.running()) == 3
    await s.release()
    assert sorted(s.order_landed()) == sorted([a, b, c])
    assert s.order_landed().index(a) < s.order_landed().index(b)
    # C lands first (nothing ahead of it): its slot is free again, and B[A=f] (0.09, over the
    # threshold of 0.05) is built again as a new attempt, then superseded when B lands on A.
    assert s.builds() == 5
    assert s.dead_letters() == []
    await s.stop()
