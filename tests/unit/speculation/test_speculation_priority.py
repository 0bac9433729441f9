"""The priority lane in the pure steps: dependency split, merge hold, speculation order."""

from __future__ import annotations

import dataclasses

from speculation_helpers import TableScorer, batch, entry, path, pset, snap

from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.core.speculation.priority import held_by, split_conflicts
from sq.submitqueue.entity.batch import Batch, BatchID, Priority
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator

N1, N2, H0, H = (BatchID(f"q/batch/{n}") for n in ("1", "2", "3", "4"))


def high(b: Batch, overtakes: tuple[BatchID, ...] = ()) -> Batch:
    return dataclasses.replace(b, priority=Priority.HIGH, overtakes=overtakes)


def test_a_high_batch_follows_high_and_merging_ones_and_overtakes_the_rest() -> None:
    in_flight = [batch(N1, "speculating"), batch(N2, "merging"), high(batch(H0, "speculating"))]
    candidate = high(batch(H, "creating"))
    assert split_conflicts(candidate, (N1, N2, H0), in_flight) == ((N2, H0), (N1,))


def test_a_normal_batch_depends_on_every_conflict() -> None:
    in_flight = [batch(N1), high(batch(H0))]
    assert split_conflicts(batch(N2, "creating"), (N1, H0), in_flight) == ((N1, H0), ())


def test_a_passed_normal_head_waits_while_a_high_one_overtakes_it() -> None:
    passed = pset(N1, entry(path(N1), "passed"))
    waiting = snap(batch(N1), high(batch(H), (N1,)), sets=(passed,))
    assert held_by(waiting, N1) == H
    assert finalize(waiting, now_ms=1).committed == ()
    landed = snap(batch(N1), high(batch(H, "succeeded"), (N1,)), sets=(passed,))
    assert held_by(landed, N1) is None
    [merge] = finalize(landed, now_ms=1).committed
    assert (merge.head, merge.kind) == (N1, OutcomeKind.MERGE)


def test_a_high_head_is_funded_before_normal_ones() -> None:
    world = snap(batch(N1), batch(N2), high(batch(H)))
    standard = StandardSpeculator(ConstantScorer(0.9), budget=1)
    assert [p.path.head for p in standard.speculate(world)] == [H]
    value = ValueSpeculator(ConstantScorer(0.9), ValueSettings(budget=1))
    assert [p.path.head for p in value.speculate(world)] == [H]


def test_a_high_head_preempts_a_normal_build_in_the_value_speculator() -> None:
    building = pset(N1, entry(path(N1), "building"))
    world = snap(batch(N1), high(batch(H)), sets=(building,))
    value = ValueSpeculator(ConstantScorer(0.9), ValueSettings(budget=1))
    [cancel] = value.speculate(world)
    assert (cancel.action.value, cancel.path.head) == ("cancel", N1)


def test_a_normal_head_never_preempts_a_high_build() -> None:
    building = pset(H, entry(path(H), "building"))
    world = snap(high(batch(H)), batch(N1), sets=(building,))
    # N1 is worth far more than H's build by value alone: without the lanes it would preempt it.
    scorer = TableScorer({H: 0.05, N1: 0.99})
    value = ValueSpeculator(scorer, ValueSettings(budget=1))
    assert value.speculate(world) == []
