"""The landing check the merge stage sends: the queue's, except that a `disjoint` queue's head
built without a dependency that has not failed for good (an early landing) lands `exact`, so a
dependency that landed since sends it to build again."""

from __future__ import annotations

import pytest

from sq.api.runway import LandingCheck
from sq.submitqueue.entity.batch import BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathStatus
from sq.submitqueue.orchestrator.controller.merge import landing_check_for

D, H = BatchID("q/batch/1"), BatchID("q/batch/2")


def winner(assumption: Assumption | None) -> PathEntry:
    dependencies = () if assumption is None else (PathDependency(batch=D, assumption=assumption),)
    path = SpeculationPath(head=H, dependencies=dependencies)
    return PathEntry(id=path.id, path=path, status=PathStatus.PASSED)


@pytest.mark.parametrize(
    ("assumption", "d_state", "wanted"),
    [
        (None, BatchState.UNKNOWN, LandingCheck.DISJOINT),  # an independent lane
        (Assumption.SUCCEEDS, BatchState.SUCCEEDED, LandingCheck.DISJOINT),  # built on D
        (Assumption.FAILS, BatchState.FAILED, LandingCheck.DISJOINT),  # D will never land
        (Assumption.FAILS, BatchState.CANCELLED, LandingCheck.DISJOINT),
        (Assumption.FAILS, BatchState.SPECULATING, LandingCheck.EXACT),  # landing early
        (Assumption.FAILS, BatchState.MERGING, LandingCheck.EXACT),
        (Assumption.FAILS, BatchState.SUCCEEDED, LandingCheck.EXACT),  # D landed unbuilt-with
    ],
)
def test_a_disjoint_queue_lands_exact_past_a_dependency_that_may_land(
    assumption: Assumption | None, d_state: BatchState, wanted: LandingCheck
) -> None:
    check = landing_check_for(LandingCheck.DISJOINT, winner(assumption), lambda _: d_state)
    assert check is wanted


def test_an_exact_queue_is_always_exact_and_a_carried_head_never_counts() -> None:
    fails = winner(Assumption.FAILS)
    assert landing_check_for(LandingCheck.EXACT, fails, lambda _: BatchState.FAILED) is (
        LandingCheck.EXACT
    )
    carrying = landing_check_for(
        LandingCheck.DISJOINT, fails, lambda _: BatchState.SPECULATING, carried=D
    )
    assert carrying is LandingCheck.DISJOINT
