"""Our queue through the real engine (standard speculator): two changes' tree, by hand.

A arrives at 0, B at 1 minute and conflicts with A, builds take 10 minutes, p = 0.1 so the
constant scorer believes A passes with 0.9. With a budget of 3, B gets both futures: built on A
(0.9) and without A (0.1).
"""

from __future__ import annotations

import dataclasses

import pytest
from sim_helpers import builds, change, replay, workload

from sq.sim.ledger import Ledger
from sq.sim.metrics import measure, verify
from sq.sim.runner import small_team_scenario
from sq.sim.strategies.ours import (
    WARM_OUTCOMES,
    ScorerKind,
    SpeculatorKind,
    SpeculatorStrategy,
    _EngineQueue,
)
from sq.sim.workload import generate, prehistory

STANDARD = SpeculatorKind.STANDARD


def test_a_passes_so_b_lands_on_a_and_its_other_future_is_cancelled() -> None:
    w = workload([change(0, 0), change(1, 1)], pairs=[(0, 1)])
    ledger = replay(SpeculatorStrategy(capacity=3, speculator=STANDARD), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "passed"),
        ((0, 1), 1, 11, "passed"),
        ((1,), 1, 10, "cancelled"),  # assumed A fails; broken when A landed
    ]
    assert ledger.landed_at == {0: 600_000, 1: 660_000}
    assert [landing.build_id for landing in ledger.landings] == [0, 1]
    assert verify(w, ledger) == []


def test_a_fails_so_b_lands_on_the_future_without_a() -> None:
    w = workload([change(0, 0, good=False), change(1, 1)], pairs=[(0, 1)])
    ledger = replay(SpeculatorStrategy(capacity=3, speculator=STANDARD), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "failed"),
        ((0, 1), 1, 10, "cancelled"),  # assumed A passes; broken when A failed
        ((1,), 1, 11, "passed"),
    ]
    assert ledger.rejected_at == {0: 600_000}
    assert ledger.landed_at == {1: 660_000}
    m = measure("ours", w, ledger)
    assert (m.p50_min, m.builds_per_landed, m.verified) == (10, 3, True)


def test_with_budget_two_b_waits_for_a_slot_after_a_fails() -> None:
    # Only the likelier future of B fits; when A fails it is cancelled and B[A=fails] starts then.
    w = workload([change(0, 0, good=False), change(1, 1)], pairs=[(0, 1)])
    ledger = replay(SpeculatorStrategy(capacity=2, speculator=STANDARD), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "failed"),
        ((0, 1), 1, 10, "cancelled"),
        ((1,), 10, 20, "passed"),
    ]
    assert ledger.landed_at == {1: 1_200_000}
    m = measure("ours", w, ledger)
    assert (m.wait_min, m.build_min, m.hold_min) == (9, 10, 0)


def test_independent_changes_are_built_and_landed_side_by_side() -> None:
    w = workload([change(0, 0), change(1, 1)], pairs=[])
    ledger = replay(SpeculatorStrategy(capacity=2, speculator=STANDARD), w)

    assert builds(ledger) == [((0,), 0, 10, "passed"), ((1,), 1, 11, "passed")]


def test_b_holds_its_passed_build_until_a_lands() -> None:
    # B's build is shorter than A's: it passes first and lands when A does.
    w = workload([change(0, 0), change(1, 1, build_min=4)], pairs=[(0, 1)])
    ledger = replay(SpeculatorStrategy(capacity=3, speculator=STANDARD), w)

    assert ledger.landed_at == {0: 600_000, 1: 600_000}
    assert [landing.changes for landing in ledger.landings] == [(0,), (1,)]
    assert measure("ours", w, ledger).hold_min == pytest.approx(2.5)  # (0 + 5) / 2


def test_history_scorer_variant_runs_the_same_tree() -> None:
    w = workload([change(0, 0, good=False), change(1, 1)], pairs=[(0, 1)])
    ledger = replay(
        SpeculatorStrategy(capacity=3, scorer=ScorerKind.HISTORY, speculator=STANDARD), w
    )

    assert ledger.landed_at == {1: 660_000}
    assert verify(w, ledger) == []


def test_the_ceiling_scorer_builds_b_without_a_change_it_knows_is_risky() -> None:
    # Two workers. The constant scorer believes A passes (0.9), so B is first built on A, that
    # build is cancelled when A fails, and B is built again; the ceiling knows A was drawn bad
    # with rate 0.9 and builds B without A at once (neither funds both futures of B).
    risky = dataclasses.replace(change(0, 0, good=False), bad_rate=0.9)
    w = workload([risky, change(1, 1)], pairs=[(0, 1)])
    constant = replay(SpeculatorStrategy(capacity=2), w)
    ceiling = replay(SpeculatorStrategy(capacity=2, scorer=ScorerKind.RATE), w)

    assert SpeculatorStrategy(1, scorer=ScorerKind.RATE).name == "ours+rate"
    assert [b[:2] for b in builds(constant)] == [((0,), 0), ((0, 1), 1), ((1,), 10)]
    assert [b[:2] for b in builds(ceiling)] == [((0,), 0), ((1,), 1)]
    assert (ceiling.landed_at[1], constant.landed_at[1]) == (660_000, 1_200_000)
    assert verify(w, ceiling) == []


def test_the_warm_history_scorer_starts_from_the_teams_earlier_outcomes() -> None:
    w = generate(small_team_scenario(0.1, window_hours=3.0).workload, seed=3)
    cold = _EngineQueue(w, Ledger(), 4, ScorerKind.HISTORY, SpeculatorKind.VALUE)
    warm = _EngineQueue(w, Ledger(), 4, ScorerKind.HISTORY_WARM, SpeculatorKind.VALUE)
    assert cold.history is not None and warm.history is not None

    assert cold.history.remembered_values() == 0
    authors = {c.author for c in prehistory(w.spec, w.seed, WARM_OUTCOMES)}
    assert warm.history.remembered_values() >= len(authors) > 10
    assert SpeculatorStrategy(4, scorer=ScorerKind.HISTORY_WARM).name == "ours+history-warm"
