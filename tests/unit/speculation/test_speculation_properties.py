"""Properties of the generator, the allocators and finalize over random queues."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from speculation_helpers import S, TableScorer, batch, entry, pset, snap

from sq.submitqueue.core.speculation import rules
from sq.submitqueue.core.speculation.check import check_proposals
from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.entity.batch import ALL_STATES, BatchState, is_terminal
from sq.submitqueue.entity.budget import free_slots
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathStatus
from sq.submitqueue.entity.proposal import CandidatePath, PathAction
from sq.submitqueue.extension.speculator.standard import BestFirstGenerator, StickyAllocator
from sq.submitqueue.extension.speculator.standard.generator import RESOLVED_ASSUMPTION
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator

STATES = [s.value for s in ALL_STATES if s is not BatchState.CREATING]
PATH_STATUSES = [s.value for s in PathStatus if s is not PathStatus.UNKNOWN]
probabilities = st.one_of(st.sampled_from([0.0, 0.5, 1.0]), st.floats(0.0, 1.0))


@st.composite
def queues(draw, max_batches=7):
    """Batches q/0..q/n-1, each depending on a subset of the earlier ones, with random states,
    scores, and path sets of random paths and statuses."""
    n = draw(st.integers(1, max_batches))
    batches = []
    for i in range(n):
        deps = tuple(f"q/{j}" for j in range(i) if draw(st.booleans()))
        batches.append(batch(f"q/{i}", draw(st.sampled_from(STATES)), deps))
    scores = {b.id: draw(probabilities) for b in batches}
    sets = []
    for b in batches:
        if b.state not in ("created", "speculating", "merging", "cancelling") or not draw(
            st.booleans()
        ):
            continue
        entries = {}
        for _ in range(draw(st.integers(0, 3))):
            deps = tuple(
                PathDependency(
                    batch=d,
                    assumption=draw(st.sampled_from([Assumption.SUCCEEDS, Assumption.FAILS])),
                )
                for d in b.dependencies
            )
            p = SpeculationPath(head=b.id, dependencies=deps)
            entries[p.id] = entry(p, draw(st.sampled_from(PATH_STATUSES)))
        sets.append(pset(b.id, *entries.values()))
    return batches, scores, tuple(sets)


@settings(max_examples=200, deadline=None)
@given(queues())
def test_generator_is_ordered_complete_unique_and_consistent(queue):
    batches, scores, _ = queue
    states = {b.id: b.state for b in batches}
    got = list(BestFirstGenerator(TableScorer(scores)).generate(batches))
    ranking = [c.ranking_score for c in got]
    assert all(a >= b for a, b in itertools.pairwise(ranking))
    assert len({c.path.id for c in got}) == len(got)
    expected = 0
    for b in batches:
        if b.state is BatchState.SPECULATING:
            expected += 2 ** sum(1 for d in b.dependencies if states[d] not in RESOLVED_ASSUMPTION)
    assert len(got) == expected
    for c in got:
        head = next(b for b in batches if b.id == c.path.head)
        assert [d.batch for d in c.path.dependencies] == list(head.dependencies)
        for d in c.path.dependencies:
            forced = RESOLVED_ASSUMPTION.get(states[d.batch])
            assert forced is None or d.assumption is forced


@settings(max_examples=200, deadline=None)
@given(queues(), st.integers(0, 6), st.lists(st.integers(0, 5), max_size=12))
def test_allocator_never_exceeds_the_budget(queue, budget, picks):
    _, _, sets = queue
    candidates = [CandidatePath(path=e.path, ranking_score=0.0) for s in sets for e in s.paths] + [
        CandidatePath(path=SpeculationPath(head=f"q/new{i}"), ranking_score=0.0) for i in picks
    ]
    held = sum(
        1 for s in sets for e in s.paths if e.status in ("pending", "building", "cancelling")
    )
    out = StickyAllocator(budget).allocate(sets, iter(candidates))
    assert len(out) <= max(0, budget - held)
    stored = {e.id for s in sets for e in s.paths}
    assert not stored & {p.path.id for p in out}
    assert len({p.path.id for p in out}) == len(out)


@settings(max_examples=300, deadline=None)
@given(queues())
def test_finalize_merges_only_settled_heads_and_fails_only_dead_ones(queue):
    batches, _, sets = queue
    done = finalize(snap(*batches, sets=sets), now_ms=1)
    final = done.snapshot
    for outcome in done.committed:
        head = final.batch(outcome.head)
        path_set = final.path_set(outcome.head)
        if outcome.kind is OutcomeKind.MERGE:
            winner = path_set.entry(outcome.winner)
            assert winner.status is PathStatus.PASSED
            assert rules.all_settled(winner.path, final.state_of)
            assert all(is_terminal(final.state_of(d)) for d in head.dependencies)
        elif outcome.kind is OutcomeKind.FAIL:
            assert all(is_terminal(final.state_of(d)) for d in head.dependencies)
            live = [
                e for e in path_set.paths if not rules.assumption_broken(e.path, final.state_of)
            ]
            assert live
            assert all(e.status in (PathStatus.FAILED, PathStatus.CANCELLED) for e in live)
        else:
            assert rules.all_paths_stopped(path_set)
    decided = {o.head for o in done.committed}
    for head_id in done.open_heads:
        assert head_id not in decided
        head = final.batch(head_id)
        decision = rules.decide(head, final.path_set(head_id), final.state_of)
        assert decision.verdict is rules.Verdict.WAIT


def test_a_settled_passed_path_always_merges():
    done = finalize(
        snap(
            batch("q/0", "succeeded"),
            batch("q/1", deps=("q/0",)),
            sets=(
                pset(
                    "q/1",
                    entry(
                        SpeculationPath(
                            head="q/1", dependencies=(PathDependency(batch="q/0", assumption=S),)
                        ),
                        "passed",
                    ),
                ),
            ),
        ),
        now_ms=1,
    )
    assert [o.kind for o in done.committed] == [OutcomeKind.MERGE]


@settings(max_examples=300, deadline=None)
@given(queues(), st.integers(0, 6), st.floats(0.0, 2.0), st.floats(1.0, 10.0))
def test_value_speculator_stays_in_budget_and_proposes_only_what_the_controller_accepts(
    queue, budget, threshold, hysteresis
):
    batches, scores, sets = queue
    done = finalize(snap(*batches, sets=sets), now_ms=1)
    final = done.snapshot
    speculator = ValueSpeculator(
        TableScorer(scores),
        ValueSettings(budget=budget, threshold=threshold, hysteresis=hysteresis),
    )
    proposals = speculator.speculate(final)
    builds = [p for p in proposals if p.action is PathAction.BUILD]
    assert len(builds) <= free_slots(budget, final.path_sets)
    assert len({p.path.id for p in proposals}) == len(proposals)
    for proposal in proposals:
        assert not rules.assumption_broken(proposal.path, final.state_of)
    assert check_proposals(final, proposals).rejected == ()
