"""The flaky-build retry in the simulator: what it saves (false rejections) and what it costs."""

from __future__ import annotations

import dataclasses

from sim_helpers import builds, change, replay, workload

from sq.sim.metrics import measure, verify
from sq.sim.runner import run_scenario, small_team_scenario
from sq.sim.strategies.ours import SpeculatorStrategy
from sq.sim.workload import Workload, unit

FLAKES_FIRST_ONLY = 5
"""A seed under which build 0 flakes at rate 0.5 and build 1 does not."""


def _flaky_once() -> Workload:
    w = workload([change(0, 0)])
    spec = dataclasses.replace(w.spec, flaky_rate=0.5)
    assert unit(FLAKES_FIRST_ONLY, "flaky", "build", 0) < 0.5
    assert unit(FLAKES_FIRST_ONLY, "flaky", "build", 1) >= 0.5
    return Workload(spec, seed=FLAKES_FIRST_ONLY, changes=w.changes, pairs=[])


def test_a_flake_rejects_a_good_change_without_retries() -> None:
    w = _flaky_once()
    ledger = replay(SpeculatorStrategy(capacity=2), w)
    assert builds(ledger) == [((0,), 0, 10, "failed")]
    assert ledger.rejected_at == {0: 600_000}
    assert measure("ours", w, ledger).false_rejections == 1


def test_one_retry_lands_the_change_the_flake_would_have_rejected() -> None:
    w = _flaky_once()
    ledger = replay(SpeculatorStrategy(capacity=2, flaky_retries=1), w)
    assert builds(ledger) == [((0,), 0, 10, "failed"), ((0,), 10, 20, "passed")]
    assert ledger.landed_at == {0: 1_200_000}
    assert verify(w, ledger) == []


def test_retries_trade_builds_and_latency_for_fewer_false_rejections() -> None:
    scenario = small_team_scenario(0.1, flaky=0.1, window_hours=4.0)
    result = run_scenario(scenario, 1, ("ours", "ours+retry2"))
    plain, retried = result.row("ours"), result.row("ours+retry2")
    assert plain is not None and retried is not None
    assert plain.verified and retried.verified  # a retry never lands a bad change
    assert retried.false_rejections < plain.false_rejections
    assert retried.landed > plain.landed
