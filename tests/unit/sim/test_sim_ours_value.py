"""Our queue with the default value speculator, on hand-made workloads.

Build time is in the rank: a head's density is its value per unit of its own expected build time
(the simulator's predictor is the workload's build time), so a short build is not left behind
long ones that came first.
"""

from __future__ import annotations

from sim_helpers import builds, change, replay, workload

from sq.sim.metrics import verify
from sq.sim.strategies.ours import SpeculatorStrategy


def test_a_short_build_blocked_behind_a_long_conflicting_one_is_not_starved() -> None:
    # One CI worker. L1 (60 min) starts at once; L2 and L3 (60 min, independent) queue behind it;
    # S (5 min) conflicts with L1 and arrives last. Ranked by value alone S would tie with L2 and
    # L3 and lose on arrival order, landing after three hours; per unit of build time it is worth
    # twelve times as much, so it takes the slot L1 frees and lands five minutes later.
    w = workload(
        [
            change(0, 0, build_min=60),
            change(1, 0.5, build_min=60),
            change(2, 0.7, build_min=60),
            change(3, 1, build_min=5),
        ],
        pairs=[(0, 3)],
        window_hours=1,
        tail_hours=4,
    )
    ledger = replay(SpeculatorStrategy(capacity=1), w)

    assert ledger.landed_at[0] == 60 * 60_000
    assert ledger.landed_at[3] == 65 * 60_000
    assert sorted(ledger.landed_at) == [0, 1, 2, 3]
    assert min(ledger.landed_at[1], ledger.landed_at[2]) == 125 * 60_000
    assert verify(w, ledger) == []


def test_a_build_that_has_run_for_a_while_is_not_thrown_away_to_save_minutes() -> None:
    # Three workers; every change passes with 0.5 as far as the queue knows. A1 and A2 start at
    # 0 (30 min each); B, conflicting with both, arrives at 20 and is built on both (worth
    # 0.5 x 0.25 = 0.125). C, independent, arrives at 24 worth 0.5, four times B: denser per
    # remaining time too, but preempting B would save C six minutes (A1 and A2 end at 30) and
    # cost B the four it ran plus those six. C waits for the slot A1 frees.
    w = workload(
        [
            change(0, 0, build_min=30),
            change(1, 0, build_min=30),
            change(2, 20, build_min=30),
            change(3, 24, build_min=30),
        ],
        pairs=[(0, 2), (1, 2)],
        p=0.5,
        window_hours=1,
        tail_hours=4,
    )
    ledger = replay(SpeculatorStrategy(capacity=3), w)

    assert builds(ledger)[:4] == [
        ((0,), 0, 30, "passed"),
        ((1,), 0, 30, "passed"),
        ((0, 1, 2), 20, 50, "passed"),
        ((3,), 30, 60, "passed"),
    ]
    assert verify(w, ledger) == []


def test_a_dependency_never_built_is_built_before_the_short_change_waiting_on_it() -> None:
    # One CI worker, busy with X (10 min) until minute 10. A (60 min) and B (5 min, conflicts
    # with A, so waits on it) arrive meanwhile. Per unit of build time B[A=s] is worth more than
    # A, but it cannot land before A's build, which would not have started: building B first
    # would pass it at 15 and land both at 75. A goes first and lands at 70, B at 75.
    w = workload(
        [change(0, 0, build_min=10), change(1, 1, build_min=60), change(2, 2, build_min=5)],
        pairs=[(1, 2)],
        window_hours=1,
        tail_hours=3,
    )
    ledger = replay(SpeculatorStrategy(capacity=1), w)

    assert ledger.landed_at[1] == 70 * 60_000
    assert ledger.landed_at[2] == 75 * 60_000
    assert verify(w, ledger) == []
