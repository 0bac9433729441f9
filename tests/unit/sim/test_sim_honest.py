"""Censoring and keeping up: a change still waiting at the end is a lower bound, said so."""

from __future__ import annotations

import dataclasses

from sim_helpers import change, replay, workload

from sq.sim import report
from sq.sim.metrics import StrategyMetrics, measure
from sq.sim.runner import Scenario, ScenarioResult, paper_scenario
from sq.sim.strategies.oracle import OracleStrategy
from sq.sim.strategies.serial import SerialStrategy
from sq.sim.workload import HOUR_MS, generate


def headline(w_hours: float, tail_hours: float) -> tuple[ScenarioResult, StrategyMetrics]:
    # Six good changes at 0 and one bad: a serial queue (standing in for ours) lands one every
    # 10 minutes; the oracle lands all six at 10.
    changes = [change(i, 0) for i in range(6)] + [change(6, 0, good=False)]
    w = workload(changes, window_hours=w_hours, tail_hours=tail_hours)
    ours = measure("ours", w, replay(SerialStrategy(), w))
    oracle = measure("oracle", w, replay(OracleStrategy(capacity=6), w))
    scenario = Scenario(name="tiny", workload=w.spec, capacity=6, headline=True)
    result = ScenarioResult(
        scenario=scenario, seed=7, changes=7, bad_share=1 / 7, rows=(ours, oracle), seconds={}
    )
    return result, ours


def test_a_change_still_waiting_at_the_end_marks_the_headline_censored() -> None:
    result, ours = headline(w_hours=0.5, tail_hours=0.25)  # the run ends at 45 minutes

    assert ours.censored == 2
    assert ours.landed_vs_arrived == 2 / 6  # landed in the window (at 10 and 20 minutes)
    line = report.result_line([result])
    assert line.endswith(" censored=1")
    assert "ours_landed_vs_arrived=0.33" in line
    assert "| ≥30.0 (3.00x) | ≥45.0 (4.50x) |" in report.markdown_table([result])


def test_a_queue_that_finished_everything_is_not_censored() -> None:
    result, ours = headline(w_hours=1.5, tail_hours=0.5)

    assert ours.censored == 0
    assert ours.landed_vs_arrived == 1.0
    assert report.result_line([result]).endswith(" censored=0")
    assert "| 30.0 (3.00x) | 60.0 (6.00x) |" in report.markdown_table([result])


def test_the_paper_setting_drains_without_arrivals_after_its_tail() -> None:
    scenario = paper_scenario(0.1, window_hours=1.0, tail_hours=0.5)
    spec = dataclasses.replace(scenario.workload, rate_per_hour=100)
    w = generate(spec, seed=1)

    assert spec.drain_hours == 2.0
    assert w.horizon_ms == 3.5 * HOUR_MS
    assert max(c.arrival_ms for c in w.changes) < 1.5 * HOUR_MS
    assert max(c.arrival_ms for c in w.changes) > 1.4 * HOUR_MS
