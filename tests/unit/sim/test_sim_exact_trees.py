"""Exact trees in the simulator: runway's git check refuses a landing when anything landed since
the build's base that the build did not include, conflicting or not.

A and B do not conflict. A arrives at 0 and builds for 10 minutes, B at 1 and builds for 10. Both
build on the empty target. A lands at 10. By default B's build still lands at 11 (independent
changes commute, as the conflict analyzer promises); with exact trees B's tree (target + B) is
not the tree it would land (target + A + B), so B is built again on the target holding A.
"""

from __future__ import annotations

from sim_helpers import builds, change, replay, workload

from sq.sim.metrics import verify
from sq.sim.strategies.ours import SpeculatorStrategy


def _independent():  # type: ignore[no-untyped-def]
    return workload([change(0, 0), change(1, 1)], pairs=[])


def test_independent_changes_land_on_their_own_builds_by_default() -> None:
    w = _independent()
    ledger = replay(SpeculatorStrategy(capacity=2), w)

    assert builds(ledger) == [((0,), 0, 10, "passed"), ((1,), 1, 11, "passed")]
    assert ledger.landed_at == {0: 600_000, 1: 660_000}
    assert verify(w, ledger) == []


def test_with_exact_trees_a_landing_the_build_did_not_include_sends_it_back() -> None:
    w = _independent()
    ledger = replay(SpeculatorStrategy(capacity=2, exact_trees=True), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "passed"),
        ((1,), 1, 11, "passed"),
        ((1,), 11, 21, "passed"),  # B again, on the target holding A
    ]
    assert ledger.landed_at == {0: 600_000, 1: 1_260_000}
    assert [landing.build_id for landing in ledger.landings] == [0, 2]
    assert verify(w, ledger) == []


def test_sq_sim_names_the_exact_trees_strategy() -> None:
    assert SpeculatorStrategy(capacity=2, exact_trees=True).name == "ours+exact"
