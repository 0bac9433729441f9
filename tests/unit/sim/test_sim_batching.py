"""Our engine with batching (doc/batching.md): formation, bisection of a failed batch, landing.

Hand-made workloads: changes that conflict with nothing, 10-minute builds, plenty of workers, so
every batch has exactly one future (no dependency) and the builds follow from the split rule.
"""

from __future__ import annotations

from sim_helpers import builds, change, replay, workload

from sq.sim.metrics import measure, verify
from sq.sim.runner import make_strategy
from sq.sim.strategies.ours import SpeculatorStrategy
from sq.submitqueue.core.batching import RECOMMENDED, BatchPolicy, SplitRule
from sq.submitqueue.entity.batch import Batch


class KnownCulprit:
    """Scores c2 as a likely culprit (0.5) and every other request as 0.95."""

    def score(self, batch: Batch) -> float:
        return 0.5 if batch.contains == ("c2",) else 0.95


def _four_with_c2_bad() -> list:  # type: ignore[type-arg]
    return [change(i, i / 10, good=i != 2) for i in range(4)]


def _strategy(rule: SplitRule) -> SpeculatorStrategy:
    policy = BatchPolicy(max_size=4, max_wait_ms=60_000, min_pass_probability=0.3, split=rule)
    return SpeculatorStrategy(8, KnownCulprit(), batching=policy, name=f"ours+{rule}")


def test_likeliest_isolates_the_culprit_three_builds() -> None:
    # The batch of four closes when full (at 0.3 min) and fails. The likeliest split puts c2
    # (failure mass 0.5 of 0.65) alone: {c0,c1,c3} passes and lands, {c2} fails: 1 + 2 builds.
    w = workload(_four_with_c2_bad())
    ledger = replay(_strategy(SplitRule.LIKELIEST), w)

    assert builds(ledger) == [
        ((0, 1, 2, 3), 0.3, 10.3, "failed"),
        ((0, 1, 3), 10.3, 20.3, "passed"),
        ((2,), 10.3, 20.3, "failed"),
    ]
    assert [landing.changes for landing in ledger.landings] == [(0, 1, 3)]  # one push, in order
    assert set(ledger.landed_at) == {0, 1, 3}
    assert ledger.rejected_at == {2: 20.3 * 60_000}
    assert verify(w, ledger) == []


def test_halves_need_five_builds() -> None:
    # Blind halves: {c0,c1} passes, {c2,c3} fails and is cut again: {c2} fails, {c3} passes.
    # 1 + 2 + 2 builds, and c3 lands a build time later than with the likeliest split.
    w = workload(_four_with_c2_bad())
    ledger = replay(_strategy(SplitRule.HALVES), w)

    assert builds(ledger) == [
        ((0, 1, 2, 3), 0.3, 10.3, "failed"),
        ((0, 1), 10.3, 20.3, "passed"),
        ((2, 3), 10.3, 20.3, "failed"),
        ((2,), 20.3, 30.3, "failed"),
        ((3,), 20.3, 30.3, "passed"),
    ]
    assert [landing.changes for landing in ledger.landings] == [(0, 1), (3,)]
    assert ledger.rejected_at == {2: 30.3 * 60_000}
    assert verify(w, ledger) == []


def test_every_split_is_recorded_with_the_failed_build() -> None:
    strategy = _strategy(SplitRule.HALVES)
    queues: list[object] = []
    from sq.sim.strategies import ours

    init = ours._EngineQueue.__init__

    def keep(self: ours._EngineQueue, *a: object, **k: object) -> None:
        init(self, *a, **k)  # type: ignore[arg-type]
        queues.append(self)

    ours._EngineQueue.__init__ = keep  # type: ignore[method-assign]
    try:
        replay(strategy, workload(_four_with_c2_bad()))
    finally:
        ours._EngineQueue.__init__ = init  # type: ignore[method-assign]
    queue = queues[0]
    assert isinstance(queue, ours._EngineQueue)
    assert [(f, n, b) for f, n, b in queue.splits] == [
        ("sim/batch/1", ("sim/batch/2", "sim/batch/3"), 0),
        ("sim/batch/3", ("sim/batch/4", "sim/batch/5"), 2),
    ]


def test_the_waiting_room_wakes_up_when_the_oldest_has_waited_long_enough() -> None:
    # Three requests, room for four: nothing else happens, yet the batch closes at 5 minutes.
    w = workload([change(i, i / 10) for i in range(3)])
    policy = BatchPolicy(max_size=4, max_wait_ms=5 * 60_000, min_pass_probability=0.5)
    ledger = replay(SpeculatorStrategy(8, batching=policy), w)

    assert builds(ledger) == [((0, 1, 2), 5.0, 15.0, "passed")]
    assert measure("ours", w, ledger).p50_min == 15.0 - 0.1


def test_recommended_policy_batches_at_p_005_and_backs_off_at_p_02() -> None:
    four = [change(i, i / 10) for i in range(4)]
    batched = replay(make_strategy("ours+batch", 8), workload(four, p=0.05))
    assert [b.included for b in batched.builds] == [(0, 1, 2, 3)]
    assert RECOMMENDED.enabled

    # 0.8 x 0.8 < 0.7: every request is its own batch, at once (none waits for a partner).
    alone = replay(make_strategy("ours+batch", 8), workload(four, p=0.2))
    assert [(b.included, b.start_ms) for b in alone.builds] == [
        ((i,), c.arrival_ms) for i, c in enumerate(four)
    ]
    assert [landing.changes for landing in alone.landings] == [(0,), (1,), (2,), (3,)]


def test_a_batch_with_dependencies_builds_its_members_on_them() -> None:
    # c0 alone (it waited), then c1 and c2 together; c2 conflicts with c0: the batch {c1,c2}
    # depends on {c0} and its likeliest future includes it, below the batch's members.
    w = workload([change(0, 0), change(1, 3), change(2, 3.1)], pairs=[(0, 2)])
    policy = BatchPolicy(max_size=2, max_wait_ms=2 * 60_000, min_pass_probability=0.5)
    ledger = replay(SpeculatorStrategy(8, batching=policy), w)

    included = [b.included for b in ledger.builds if b.passed]
    assert (0,) in included and (0, 1, 2) in included
    assert [landing.changes for landing in ledger.landings] == [(0,), (1, 2)]
    assert verify(w, ledger) == []


def test_a_build_on_a_batch_includes_all_its_members() -> None:
    # {c0,c1} closes full at 0.1 min; c2 conflicts with c1 and waits alone until 2.5 min: its
    # likeliest future is built on the whole batch it depends on, then lands after it.
    w = workload([change(0, 0), change(1, 0.1), change(2, 0.5)], pairs=[(1, 2)])
    policy = BatchPolicy(max_size=2, max_wait_ms=2 * 60_000, min_pass_probability=0.5)
    ledger = replay(SpeculatorStrategy(8, batching=policy), w)

    assert ((0, 1, 2), 2.5, 12.5, "passed") in builds(ledger)
    assert [landing.changes for landing in ledger.landings] == [(0, 1), (2,)]
    assert verify(w, ledger) == []


def test_a_deep_queue_pairs_its_changes_and_a_quiet_one_builds_each_alone() -> None:
    # Two workers, 10-minute builds: from two arrivals within ten minutes one build per change
    # would take every slot, so the queue is deep from c1 on and pairs its changes, six seconds
    # apart (c5 finds no partner within 30 s and goes alone); c6 comes after a quiet spell and
    # goes alone at once.
    arrivals = [0, 0.1, 0.2, 0.3, 0.4, 0.5, 30]
    w = workload([change(i, at, build_min=10) for i, at in enumerate(arrivals)], p=0.05)
    deep = replay(SpeculatorStrategy(2, batching=BatchPolicy(), deep_load=1.0), w)
    assert sorted(b.included for b in deep.builds) == [(0,), (1, 2), (3, 4), (5,), (6,)]
    assert [b.start_ms for b in deep.builds if b.included == (6,)] == [30 * 60_000]

    shallow = replay(SpeculatorStrategy(2, batching=BatchPolicy(), deep_load=4.0), w)
    assert sorted(b.included for b in shallow.builds) == [(i,) for i in range(7)]
    assert verify(w, deep) == [] and verify(w, shallow) == []
