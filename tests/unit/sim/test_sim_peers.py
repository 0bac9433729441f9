"""The peers on hand-made workloads: Zuul's dependent pipeline per conflict set, and bisection
with C workers (several batches in flight, a failed batch cut into parts tested at once)."""

from __future__ import annotations

import dataclasses
from itertools import combinations

import pytest
from sim_helpers import builds, change, replay, workload

from sq.sim.metrics import verify
from sq.sim.runner import make_strategy, small_team_scenario
from sq.sim.strategies.bisect import BisectStrategy
from sq.sim.strategies.optimistic import OptimisticStrategy
from sq.sim.workload import generate

MIN = 60_000


def all_pairs(*changes: int) -> list[tuple[int, int]]:
    return list(combinations(changes, 2))


def test_optimistic_rebuilds_behind_a_failure_at_once_without_it() -> None:
    # One conflict set. c1 (bad, 5-minute build) fails at 5 while c0 is still building: c2, built
    # on c0+c1, restarts at once on c0 alone; c1 is rejected when c0 lands, its failure its own.
    w = workload(
        [change(0, 0), change(1, 0, good=False, build_min=5), change(2, 1)],
        pairs=all_pairs(0, 1, 2),
    )
    ledger = replay(OptimisticStrategy(capacity=3), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "passed"),
        ((0, 1), 0, 5, "failed"),
        ((0, 1, 2), 1, 5, "cancelled"),
        ((0, 2), 5, 15, "passed"),
    ]
    assert ledger.landed_at == {0: 10 * MIN, 2: 15 * MIN}
    assert ledger.rejected_at == {1: 10 * MIN}
    assert verify(w, ledger) == []


def test_optimistic_a_failure_in_one_line_does_not_restart_the_other() -> None:
    # Two conflict sets, {c0, c1} and {c2, c3}: c0 is bad, so c1 restarts; c3 is untouched.
    w = workload(
        [change(0, 0, good=False), change(1, 1), change(2, 2), change(3, 3)],
        pairs=[(0, 1), (2, 3)],
    )
    ledger = replay(OptimisticStrategy(capacity=4), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "failed"),
        ((0, 1), 1, 10, "cancelled"),
        ((2,), 2, 12, "passed"),
        ((2, 3), 3, 13, "passed"),
        ((1,), 10, 20, "passed"),
    ]
    assert ledger.landed_at == {2: 12 * MIN, 3: 13 * MIN, 1: 20 * MIN}
    assert verify(w, ledger) == []


def test_optimistic_retries_a_failure_that_was_the_fault_of_one_ahead() -> None:
    # c1 (5-minute build) fails on top of the bad c0 before c0's verdict is in: it is not
    # rejected, since its failure may be c0's; once c0 fails, c1 is rebuilt alone and lands.
    w = workload([change(0, 0, good=False), change(1, 0, build_min=5)], pairs=[(0, 1)])
    ledger = replay(OptimisticStrategy(capacity=2), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "failed"),
        ((0, 1), 0, 5, "failed"),
        ((1,), 10, 15, "passed"),
    ]
    assert ledger.rejected_at == {0: 10 * MIN}
    assert ledger.landed_at == {1: 15 * MIN}


def test_optimistic_restarts_what_was_built_without_a_change_when_it_is_retried() -> None:
    # c1 fails at 5 on top of the bad c0, so c2 (conflicting with c1 only) is built without it;
    # when c0 fails, c1 is retried and c2 must restart on top of it.
    w = workload(
        [change(0, 0, good=False), change(1, 0, build_min=5), change(2, 6)],
        pairs=[(0, 1), (1, 2)],
    )
    ledger = replay(OptimisticStrategy(capacity=3), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "failed"),
        ((0, 1), 0, 5, "failed"),
        ((2,), 6, 10, "cancelled"),
        ((1,), 10, 15, "passed"),
        ((1, 2), 10, 20, "passed"),
    ]
    assert ledger.landed_at == {1: 15 * MIN, 2: 20 * MIN}
    assert verify(w, ledger) == []


def test_optimistic_gives_workers_in_arrival_order() -> None:
    w = workload([change(i, i) for i in range(3)])
    ledger = replay(OptimisticStrategy(capacity=2), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "passed"),
        ((1,), 1, 11, "passed"),
        ((2,), 10, 20, "passed"),
    ]


def test_bisect_runs_batches_in_parallel_on_free_workers() -> None:
    # Two workers: c0 takes one; c1 and c2 arrive while the other is free and go together.
    w = workload(
        [change(0, 0), change(1, 1), change(2, 1), change(3, 2)], pairs=all_pairs(0, 1, 2, 3)
    )
    ledger = replay(BisectStrategy(capacity=2), w)

    assert builds(ledger) == [
        ((0,), 0, 10, "passed"),
        ((0, 1, 2), 1, 11, "passed"),  # built on c0, assuming it passes
        ((1, 2, 3), 10, 20, "passed"),  # c3 waited for a worker; c0 had landed by then
    ]
    assert ledger.landed_at == {0: 10 * MIN, 1: 11 * MIN, 2: 11 * MIN, 3: 20 * MIN}
    assert verify(w, ledger) == []


def test_bisect_a_failing_batch_does_not_restart_an_independent_one() -> None:
    w = workload([change(0, 0, good=False), change(1, 1)])
    ledger = replay(BisectStrategy(capacity=2), w)

    assert builds(ledger) == [((0,), 0, 10, "failed"), ((1,), 1, 11, "passed")]
    assert ledger.rejected_at == {0: 10 * MIN}


def test_bisect_cuts_a_failed_batch_in_as_many_parts_as_workers() -> None:
    # Mergify's example: a batch of six fails and c3 is the culprit; three workers test two
    # prefixes at once and presume the rest bad, so two rounds find c3 and it is never built alone.
    six = [change(i, 0, good=i != 3) for i in range(6)]
    w = workload(six, pairs=all_pairs(*range(6)))
    ledger = replay(BisectStrategy(capacity=3), w)

    assert builds(ledger) == [
        ((0, 1, 2, 3, 4, 5), 0, 10, "failed"),
        ((0, 1), 10, 20, "passed"),
        ((0, 1, 2, 3), 10, 20, "failed"),
        ((4, 5), 20, 30, "passed"),  # the presumed part: tested once another part failed
        ((4, 5, 2), 20, 30, "passed"),
    ]
    assert ledger.rejected_at == {3: 30 * MIN}
    assert sorted(ledger.landed_at) == [0, 1, 2, 4, 5]
    assert verify(w, ledger) == []


def test_bisect_with_one_worker_halves_down_to_the_bad_change() -> None:
    w = workload([change(i, 0, good=i != 2) for i in range(4)], pairs=all_pairs(0, 1, 2, 3))
    ledger = replay(BisectStrategy(), w)

    assert [(b[0], b[3]) for b in builds(ledger)] == [
        ((0, 1, 2, 3), "failed"),
        ((0, 1), "passed"),
        ((2,), "failed"),
        ((3,), "passed"),
    ]
    assert ledger.rejected_at == {2: 30 * MIN}
    assert sorted(ledger.landed_at) == [0, 1, 3]


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("peer", ["optimistic", "bisect"])
def test_peers_land_only_verified_states_under_load_and_flakes(peer: str, seed: int) -> None:
    # Two workers for 40 changes an hour: batches form, fail, are cut and retried.
    scenario = small_team_scenario(0.2, lognormal=True, flaky=0.05, window_hours=6)
    spec = dataclasses.replace(scenario.workload, rate_per_hour=40, warmup_hours=0.5)
    w = generate(spec, seed=seed)
    ledger = replay(make_strategy(peer, 2), w)

    assert verify(w, ledger) == []
    assert len(ledger.landed_at) > 30
    assert ledger.rejected_at
    assert max(len(landing.changes) for landing in ledger.landings) > (peer == "bisect")
    assert (
        max(
            sum(1 for b in ledger.builds if b.start_ms <= t < (b.end_ms or t + 1))
            for t in (b.start_ms for b in ledger.builds)
        )
        == 2
    )
