"""The priority lane in the simulator: high changes land sooner, every landing stays justified."""

from __future__ import annotations

import dataclasses
import statistics

from sq.sim.ledger import Ledger
from sq.sim.metrics import verify
from sq.sim.runner import small_team_scenario
from sq.sim.strategies.ours import SpeculatorStrategy
from sq.sim.workload import Workload, generate


def _turnaround(w: Workload, ledger: Ledger, *, high: bool) -> float:
    waits = [
        ledger.landed_at[c.index] - c.arrival_ms
        for c in w.changes
        if w.measured(c) and c.high is high and c.index in ledger.landed_at
    ]
    assert waits
    return statistics.median(waits)


def test_high_changes_land_sooner_and_every_landing_is_a_built_tree() -> None:
    scenario = small_team_scenario(0.1, window_hours=6.0)
    w = generate(dataclasses.replace(scenario.workload, high_share=0.1), 1)
    assert any(c.high for c in w.changes)
    ledger = Ledger()
    SpeculatorStrategy(scenario.capacity).run(w, ledger)
    # Overtaken changes were built again after the high change landed, never landed stale.
    assert verify(w, ledger) == []
    assert _turnaround(w, ledger, high=True) < _turnaround(w, ledger, high=False)


def test_no_high_share_draws_no_high_changes() -> None:
    w = generate(small_team_scenario(0.1, window_hours=3.0).workload, 1)
    assert not any(c.high for c in w.changes)
