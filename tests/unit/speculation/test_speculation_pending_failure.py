"""Pending-failure depth on the pure finalize step (core/speculation/pending.py)."""

import dataclasses

from speculation_helpers import F, S, batch, entry, path, pset, snap

from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.core.speculation.pending import carried_by, marked_winner
from sq.submitqueue.entity.batch import BatchState

A, B, C, Z = "q/batch/a", "q/batch/b", "q/batch/c", "q/batch/z"

A_FAILED = pset(A, entry(path(A), "failed"))


def world(*b_entries, extra=(), extra_sets=()):
    return snap(
        batch(A),
        batch(B, deps=(A,)),
        *extra,
        sets=(A_FAILED, pset(B, *b_entries), *extra_sets),
    )


def test_without_depth_the_failed_head_fails_at_once():
    done = finalize(world(entry(path(B, (A, S)), "building")), now_ms=1)
    assert [(o.head, o.kind) for o in done.committed] == [(A, OutcomeKind.FAIL)]


def test_the_failed_head_waits_while_a_build_behind_it_may_carry_it():
    done = finalize(world(entry(path(B, (A, S)), "building")), now_ms=1, pending_failure_depth=1)
    assert done.committed == ()
    assert A in done.open_heads


def test_the_failed_head_waits_for_a_dependent_with_no_path_planned_yet():
    # B admitted by the run that sees A's last build fail: its paths come after the verdicts.
    for unplanned in ((), (pset(B),)):
        state = snap(batch(A), batch(B, deps=(A,)), sets=(A_FAILED, *unplanned))
        done = finalize(state, now_ms=1, pending_failure_depth=1)
        assert done.committed == ()
        assert A in done.open_heads


def test_a_passed_build_on_the_failed_head_merges_the_dependent_carrying_it():
    ps = (entry(path(B, (A, S)), "passed"), entry(path(B, (A, F)), "building"))
    done = finalize(world(*ps), now_ms=1, pending_failure_depth=1)
    (outcome,) = done.committed
    assert outcome.head == B
    assert outcome.kind is OutcomeKind.MERGE
    assert outcome.winner == path(B, (A, S)).id
    assert outcome.persist_path_set is True  # the carry mark must be stored first
    assert outcome.path_set is not None
    winner, other = outcome.path_set.paths
    assert winner.carries == A
    assert other.status.value == "cancelling"
    assert done.open_heads == (A,)  # held: it lands inside B's landing


def test_the_failed_head_keeps_waiting_while_its_carrier_merges():
    marked = dataclasses.replace(entry(path(B, (A, S)), "passed"), carries=A)
    state = snap(batch(A), batch(B, "merging", (A,)), sets=(A_FAILED, pset(B, marked)))
    done = finalize(state, now_ms=1, pending_failure_depth=1)
    assert done.committed == ()
    assert done.open_heads == (A,)
    assert marked_winner(pset(B, marked), state.state_of) == marked


def test_a_dependent_beyond_the_depth_does_not_hold_the_failed_head():
    state = snap(
        batch(A),
        batch(Z, deps=(A,)),
        batch(B, deps=(A,)),
        sets=(
            A_FAILED,
            pset(Z, entry(path(Z, (A, F)), "building")),
            pset(B, entry(path(B, (A, S)), "building")),
        ),
    )
    held = finalize(state, now_ms=1, pending_failure_depth=2)
    assert held.committed == ()
    done = finalize(state, now_ms=1, pending_failure_depth=1)
    assert [(o.head, o.kind) for o in done.committed] == [(A, OutcomeKind.FAIL)]


def test_a_dependent_that_can_land_without_the_failed_head_does_not_carry_it():
    ps = (entry(path(B, (A, S)), "passed"), entry(path(B, (A, F)), "passed"))
    done = finalize(world(*ps), now_ms=1, pending_failure_depth=1, early_landing=False)
    assert [(o.head, o.kind) for o in done.committed] == [
        (A, OutcomeKind.FAIL),
        (B, OutcomeKind.MERGE),
    ]
    assert done.committed[1].winner == path(B, (A, F)).id


def test_the_head_fails_once_every_build_behind_it_has_failed():
    ps = (entry(path(B, (A, S)), "failed"), entry(path(B, (A, F)), "building"))
    done = finalize(world(*ps), now_ms=1, pending_failure_depth=1)
    assert [(o.head, o.kind) for o in done.committed] == [(A, OutcomeKind.FAIL)]


def test_only_the_direct_case_is_carried():
    states = {A: BatchState.SPECULATING, C: BatchState.SUCCEEDED, Z: BatchState.SPECULATING}
    state_of = states.__getitem__
    assert carried_by(path(B, (C, S), (A, S)), state_of) == A
    # a change that landed after the carried one was applied: another order than the build's
    assert carried_by(path(B, (A, S), (C, S)), state_of) is None
    assert carried_by(path(B, (A, S), (Z, F)), state_of) is None  # another guess unsettled
    assert carried_by(path(B, (A, S), (Z, S)), state_of) is None  # two failed heads
    assert carried_by(path(B, (C, F), (A, S)), state_of) is None  # a guess that came false


def test_a_mark_on_a_head_that_has_failed_since_is_ignored():
    marked = dataclasses.replace(entry(path(B, (A, S)), "passed"), carries=A)
    states = {A: BatchState.FAILED}
    assert marked_winner(pset(B, marked), states.__getitem__) is None
