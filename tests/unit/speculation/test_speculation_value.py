"""The value speculator on small queues whose values are computed by hand (doc/speculation.md).

Unless a test says otherwise every change lands with 0.9, builds cost the same, the threshold is
0.1 and the hysteresis 3. A head's worth is P(it lands) + the heads waiting on it, directly or
not (a build of its right future lands it or lets them move on without it).
"""

from __future__ import annotations

import dataclasses

from speculation_helpers import F, S, TableScorer, batch, entry, path, pset, short, snap

from sq.submitqueue.core.speculation.check import check_proposals
from sq.submitqueue.entity.pathset import PathEntry
from sq.submitqueue.entity.proposal import PathAction, Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator, rank


def speculate(
    s: SpeculationSnapshot, budget: int = 4, cost: dict[str, float] | None = None, **settings: float
) -> list[Speculation]:
    scores = {b.id: 0.9 for b in s.batches}
    speculator = ValueSpeculator(
        TableScorer(scores),
        ValueSettings(**({"budget": budget, "threshold": 0.1} | settings)),  # type: ignore[arg-type]
        build_cost=None if cost is None else (lambda b: cost[b.id]),
    )
    proposals = speculator.speculate(s)
    assert check_proposals(s, proposals).rejected == ()
    return proposals


def described(proposals: list[Speculation]) -> list[str]:
    return [f"{p.action.value} {short(p.path)}" for p in proposals]


def test_a_low_value_hedge_is_not_funded_though_slots_are_free() -> None:
    # A[]: 1 x (0.9 + 1) = 1.9; B[A=s]: 0.9 x 0.9 = 0.81; B[A=f]: 0.1 x 0.9 = 0.09 < 0.1.
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)))
    assert described(speculate(s)) == ["build q/A[]", "build q/B[q/A=s]"]
    assert described(speculate(s, threshold=0.05)) == [
        "build q/A[]",
        "build q/B[q/A=s]",
        "build q/B[q/A=f]",
    ]


def test_a_head_is_never_starved_of_its_best_path() -> None:
    # B[A=s] is worth 0.81 but must clear a threshold of 5 only if it were a hedge.
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)))
    assert described(speculate(s, threshold=5.0)) == ["build q/A[]", "build q/B[q/A=s]"]


def test_a_hedge_is_worth_what_waits_behind_its_head() -> None:
    # A <- B <- C <- D. B[A=f] is worth 0.1 x (0.9 + 2) = 0.29 (C and D wait on B); D[C=f] 0.09.
    s = snap(
        batch("q/A"),
        batch("q/B", deps=("q/A",)),
        batch("q/C", deps=("q/B",)),
        batch("q/D", deps=("q/C",)),
    )
    hedges = [p for p in described(speculate(s, budget=10)) if "=f" in p]
    assert hedges == ["build q/B[q/A=f]", "build q/C[q/B=f]"]


def test_no_alternative_for_a_head_holding_a_passed_path() -> None:
    # B's passed build included A, so A is good: B[A=s] is all but certain to land B.
    passed = entry(path("q/B", ("q/A", S)), "passed")
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)), sets=(pset("q/B", passed),))
    assert described(speculate(s, threshold=0.0)) == ["build q/A[]"]


def test_a_failed_build_moves_the_dependents_to_the_future_without_it() -> None:
    # A failed on the bare target: A is bad, so B's running B[A=s] is a lost cause.
    a = pset("q/A", entry(path("q/A"), "failed"))
    b = pset("q/B", entry(path("q/B", ("q/A", S)), "building"))
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)), sets=(a, b))
    assert described(speculate(s)) == ["build q/B[q/A=f]"]


def test_a_head_whose_build_failed_funds_a_hedge_only_when_it_earns_it() -> None:
    # B[A=s] failed while A still builds: B is now 0.9 x 0.1 / 0.19 = 0.47 likely good; A, blamed
    # with B the other suspect, has its odds of being bad times 1 / 0.53: 0.83 good. So B[A=f] is
    # worth 0.17 x 0.47 = 0.08. Were B's best path exempt from the threshold as before its
    # failure, a bad head in a line of n open dependencies would be built on up to 2^n of their
    # outcomes, one after each failure.
    a = pset("q/A", entry(path("q/A"), "building"))
    b = pset("q/B", entry(path("q/B", ("q/A", S)), "failed"))
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)), sets=(a, b))
    assert described(speculate(s)) == []
    assert described(speculate(s, threshold=0.07)) == ["build q/B[q/A=f]"]
    # Once A has failed, B[A=f] is B's only future and its verdict: built whatever the threshold.
    s = snap(batch("q/A", state="failed"), batch("q/B", deps=("q/A",)), sets=(b,))
    assert described(speculate(s, threshold=5.0)) == ["build q/B[q/A=f]"]


def test_a_running_low_value_build_is_preempted_for_a_better_candidate() -> None:
    # Budget full: A[] (1.9) and B's hedge B[A=f] (0.09). C[] arrives worth 0.9 > 3 x 0.09.
    running = (
        pset("q/A", entry(path("q/A"), "building")),
        pset("q/B", entry(path("q/B", ("q/A", F)), "building")),
    )
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)), batch("q/C"), sets=running)
    assert described(speculate(s, budget=2)) == ["cancel q/B[q/A=f]"]
    assert described(speculate(s, budget=2, hysteresis=20.0)) == []


def test_a_build_relaunched_after_restarts_stays_preemptible() -> None:
    # Attempts relaunched because the runner went away left CI every try: the hedge on its third
    # attempt after two restarts is preempted as on its first; after two CI losses it is not.
    def running(hedge: PathEntry) -> SpeculationSnapshot:
        sets = (pset("q/A", entry(path("q/A"), "building")), pset("q/B", hedge))
        return snap(batch("q/A"), batch("q/B", deps=("q/A",)), batch("q/C"), sets=sets)

    hedge = entry(path("q/B", ("q/A", F)), "building", attempt=3)
    relaunched = dataclasses.replace(hedge, relaunched=2)
    assert described(speculate(running(relaunched), budget=2)) == ["cancel q/B[q/A=f]"]
    lost_to_ci = dataclasses.replace(hedge, lost=2)
    assert described(speculate(running(lost_to_ci), budget=2)) == []


def test_a_short_build_is_not_starved_behind_a_long_one() -> None:
    s = snap(batch("q/X"), batch("q/Y"))
    assert described(speculate(s, budget=1)) == ["build q/X[]"]
    assert described(speculate(s, budget=1, cost={"q/X": 10.0, "q/Y": 1.0})) == ["build q/Y[]"]


def test_a_preempted_path_may_be_built_again() -> None:
    s = snap(batch("q/A"), sets=(pset("q/A", entry(path("q/A"), "cancelled")),))
    (again,) = speculate(s)
    assert (again.action, short(again.path)) == (PathAction.BUILD, "q/A[]")


def test_a_doubtful_head_others_wait_on_is_built_first() -> None:
    # A is likely bad (0.3) and B waits on it; X is independent. A's build settles B's future
    # whether A passes or fails: worth 0.3 + 1 = 1.3 against X's 0.9 (and B[A=f] 0.7 x 0.9).
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)), batch("q/X"))
    scores = {"q/A": 0.3, "q/B": 0.9, "q/X": 0.9}
    speculator = ValueSpeculator(TableScorer(scores), ValueSettings(budget=1, threshold=0.1))
    assert described(speculator.speculate(s)) == ["build q/A[]"]


def test_everything_that_waits_on_a_head_counts_directly_or_not() -> None:
    # C waits on A and B; D waits on C. A and B each have C and D behind them.
    heads = [
        batch("q/A"),
        batch("q/B"),
        batch("q/C", deps=("q/A", "q/B")),
        batch("q/D", deps=("q/C",)),
    ]
    assert rank.dependent_weights(heads) == {"q/A": 3, "q/B": 3, "q/C": 2, "q/D": 1}


def test_a_full_budget_with_nothing_preemptible_values_nothing() -> None:
    # Both slots are held by a cancelling build and one on its last preemptible attempt: no
    # candidate can get a slot, so the run proposes nothing without scoring a single batch.
    held = (
        pset("q/A", entry(path("q/A"), "cancelling")),
        pset(
            "q/B", entry(path("q/B", ("q/A", S)), "building", attempt=rank.LAST_PREEMPTIBLE_ATTEMPT)
        ),
    )
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)), batch("q/C"), sets=held)
    calls: list[str] = []
    speculator = ValueSpeculator(
        TableScorer({b.id: 0.9 for b in s.batches}, calls), ValueSettings(budget=2, threshold=0.1)
    )
    assert speculator.speculate(s) == []
    assert calls == []
    # One more slot, and C is funded.
    assert described(speculate(s, budget=3)) == ["build q/C[]"]


def test_a_path_waiting_on_a_dependency_never_built_goes_after_one_that_can_land() -> None:
    # A's build takes ten times B's, and B waits on A. B[A=s] is denser (0.81 / 0.18 against
    # A[]'s 1.9 / 1.82), but it cannot land before a build of A ends, and none has started: the
    # one slot goes to A. With two slots B is funded too, as before.
    s = snap(batch("q/A"), batch("q/B", deps=("q/A",)))
    cost = {"q/A": 10.0, "q/B": 1.0}
    assert described(speculate(s, budget=1, cost=cost)) == ["build q/A[]"]
    assert described(speculate(s, budget=2, cost=cost)) == ["build q/A[]", "build q/B[q/A=s]"]


def test_a_dependency_with_no_build_coming_makes_only_guessing_it_succeeds_premature() -> None:
    # A's one build failed; X, still building and likely bad (0.3), takes most of the blame, so
    # A still lands with 0.86. No build of A is pending, so B[A=s] (density 5.7) is premature:
    # it could land only after A's next build, which is not funded. B[A=f] can land as soon as A
    # is failed and goes first (0.90), ahead of A's own next build A[X=f] (0.65, A's build is
    # twenty times B's). Calling every path over A premature would fund A[X=f] first.
    sets = (
        pset("q/X", entry(path("q/X"), "building")),
        pset("q/A", entry(path("q/A", ("q/X", S)), "failed")),
    )
    s = snap(batch("q/X"), batch("q/A", deps=("q/X",)), batch("q/B", deps=("q/A",)), sets=sets)
    scores = {"q/X": 0.3, "q/A": 0.9, "q/B": 0.9}
    cost = {"q/X": 1.0, "q/A": 20.0, "q/B": 1.0}
    speculator = ValueSpeculator(
        TableScorer(scores),
        ValueSettings(budget=9, threshold=0.0),
        build_cost=lambda b: cost[b.id],
    )
    assert described(speculator.speculate(s)) == [
        "build q/B[q/A=f]",
        "build q/A[q/X=f]",
        "build q/B[q/A=s]",
    ]


def test_a_premature_path_never_displaces_a_running_build() -> None:
    # Both of A's futures failed (X, still building, may be to blame), so nothing is on its way
    # to land A, and every other future is funded: B[A=s] is the only candidate. A is all but
    # proven bad (P 0.001), but B's build is so cheap that B[A=s] would displace C's build by
    # density. It cannot land before a build of A that nobody can start yet.
    sets = (
        pset("q/X", entry(path("q/X"), "building")),
        pset(
            "q/A",
            entry(path("q/A", ("q/X", S)), "failed"),
            entry(path("q/A", ("q/X", F)), "failed"),
        ),
        pset("q/B", entry(path("q/B", ("q/A", F)), "building")),
        pset("q/C", entry(path("q/C"), "building")),
    )
    s = snap(
        batch("q/X"),
        batch("q/A", deps=("q/X",)),
        batch("q/B", deps=("q/A",)),
        batch("q/C"),
        sets=sets,
    )
    cost = {"q/X": 1.0, "q/A": 1.0, "q/B": 1e-5, "q/C": 1.0}
    assert speculate(s, budget=3, cost=cost, threshold=0.0) == []
    # With a free slot it is funded: free slots cost nothing.
    assert described(speculate(s, budget=4, cost=cost, threshold=0.0)) == ["build q/B[q/A=s]"]


def test_a_dependency_whose_only_build_was_preempted_counts_as_not_built() -> None:
    # D (0.3, a build ten times B's) was preempted once: it has not failed and will be built
    # again, so B[D=f] waits for that build as much as B[D=s] does. D gets the one slot, as it
    # would had it never been built.
    scores = {"q/D": 0.3, "q/B": 0.9}
    cost = {"q/D": 10.0, "q/B": 1.0}
    preempted = pset("q/D", entry(path("q/D"), "cancelled"))
    for sets in ((), (preempted,)):
        s = snap(batch("q/D"), batch("q/B", deps=("q/D",)), sets=sets)
        speculator = ValueSpeculator(
            TableScorer(scores),
            ValueSettings(budget=1, threshold=0.0),
            build_cost=lambda b: cost[b.id],
        )
        assert described(speculator.speculate(s)) == ["build q/D[]"], sets
