"""Hand-computed baseline cases: serial throughput is 1/T, the oracle (peers: test_sim_peers)."""

from __future__ import annotations

import pytest
from sim_helpers import builds, change, replay, workload

from sq.sim.metrics import measure
from sq.sim.strategies.oracle import OracleStrategy
from sq.sim.strategies.serial import SerialStrategy


@pytest.mark.parametrize("build_min", [6, 10, 15])
def test_serial_lands_one_change_per_build_time_when_backlogged(build_min: float) -> None:
    # 40 good changes all waiting at once: a serial queue lands one every T, so 60/T per hour.
    w = workload([change(i, 0, build_min=build_min) for i in range(40)], window_hours=2)
    ledger = replay(SerialStrategy(), w)

    assert sorted(ledger.landed_at.values())[:3] == [k * build_min * 60_000 for k in (1, 2, 3)]
    assert measure("serial", w, ledger).throughput_per_hour == pytest.approx(60 / build_min, abs=1)


def test_serial_rejects_a_bad_change_and_moves_on() -> None:
    w = workload([change(0, 0), change(1, 0, good=False), change(2, 0)])
    ledger = replay(SerialStrategy(), w)

    assert ledger.landed_at == {0: 600_000, 2: 1_800_000}
    assert ledger.rejected_at == {1: 1_200_000}


def test_oracle_skips_bad_changes_and_builds_each_landing_once() -> None:
    # One worker. c1 is bad: turned away on arrival, never built. c2 waits for the worker.
    w = workload([change(0, 0), change(1, 1, good=False), change(2, 2)], pairs=[(0, 2)])
    ledger = replay(OracleStrategy(capacity=1), w)

    # By the time c2 is built, c0 has landed: the target it builds on already holds it.
    assert builds(ledger) == [((0,), 0, 10, "passed"), ((2,), 10, 20, "passed")]
    assert ledger.builds[1].master_landings == 1
    assert ledger.rejected_at == {1: 60_000}
    assert ledger.landed_at == {0: 600_000, 2: 1_200_000}
    m = measure("oracle", w, ledger)
    assert (m.p50_min, m.p99_min, m.builds_per_landed) == (10, 18, 1)


def test_oracle_holds_a_change_until_what_it_was_built_on_lands() -> None:
    # Two workers: c1 (5-minute build) conflicts with c0 (10 minutes), so it waits for c0.
    w = workload([change(0, 0), change(1, 1, build_min=5)], pairs=[(0, 1)])
    ledger = replay(OracleStrategy(capacity=2), w)

    assert builds(ledger) == [((0,), 0, 10, "passed"), ((0, 1), 1, 6, "passed")]
    assert ledger.landed_at == {0: 600_000, 1: 600_000}
    m = measure("oracle", w, ledger)
    assert (m.wait_min, m.build_min, m.hold_min) == (0, 7.5, 2)
