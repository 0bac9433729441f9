"""Early landing in the simulator: B, covered both ways, lands ahead of A; A is built again.

A arrives at 0 and builds for 30 minutes; B arrives at 1, conflicts with A, builds for 10. With
the standard speculator and a budget of 3, B gets both futures (on A, and without A); both pass
at 11 while A still builds, so B is covered and lands on its build without A. A's own build
never saw B, so its landing is outdated: A is built again on the target holding B, then lands.
"""

from __future__ import annotations

from sim_helpers import builds, change, replay, workload

from sq.sim.metrics import verify
from sq.sim.strategies.ours import SpeculatorKind, SpeculatorStrategy

STANDARD = SpeculatorKind.STANDARD


def _two_changes(*, a_good: bool = True):  # type: ignore[no-untyped-def]
    return workload(
        [change(0, 0, good=a_good, build_min=30), change(1, 1, build_min=10)], pairs=[(0, 1)]
    )


def test_covered_b_lands_first_and_a_lands_after_a_build_that_contains_b() -> None:
    w = _two_changes()
    ledger = replay(SpeculatorStrategy(capacity=3, speculator=STANDARD, early_landing=True), w)

    assert builds(ledger) == [
        ((0,), 0, 30, "passed"),
        ((0, 1), 1, 11, "passed"),
        ((1,), 1, 11, "passed"),
        ((0,), 30, 60, "passed"),  # A again: outdated by B, which landed ahead of it
    ]
    assert ledger.landed_at == {1: 660_000, 0: 3_600_000}
    assert [landing.build_id for landing in ledger.landings] == [2, 3]
    assert verify(w, ledger) == []


def test_without_early_landing_b_waits_for_a() -> None:
    w = _two_changes()
    ledger = replay(SpeculatorStrategy(capacity=3, speculator=STANDARD), w)

    assert ledger.landed_at == {0: 1_800_000, 1: 1_800_000}
    assert [landing.build_id for landing in ledger.landings] == [0, 1]
    assert verify(w, ledger) == []


def test_b_on_a_bad_a_fails_so_b_is_not_covered_and_waits() -> None:
    w = _two_changes(a_good=False)
    ledger = replay(SpeculatorStrategy(capacity=3, speculator=STANDARD, early_landing=True), w)

    assert ledger.landed_at == {1: 1_800_000}  # on its build without A, once A failed
    assert ledger.rejected_at == {0: 1_800_000}
    assert verify(w, ledger) == []


def test_sq_sim_runs_the_early_landing_strategies_when_asked() -> None:
    from click.testing import CliRunner

    from sq.service.cli.sim import sim

    args = ["--rate", "20", "--capacity", "4", "--window-hours", "2"]
    strategies = ["--strategies", "ours,ours+early,ours-standard+early"]
    result = CliRunner().invoke(sim, [*args, *strategies])

    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if line.startswith("| λ")]
    names = [row.split(" | ")[1] for row in rows]
    assert names == ["ours", "ours+early", "ours-standard+early", "oracle"]  # oracle: the ratios
    assert all(row.rstrip(" |").endswith("yes") for row in rows)
