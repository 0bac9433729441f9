"""Properties of landing decisions over random queues: finalize never lands a head on a tree no
passed build covered, with or without early landing (spec §3.4, §7.2)."""

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st
from speculation_helpers import batch, entry, pset, snap

from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.core.speculation.rules import built_again
from sq.submitqueue.entity.batch import ALL_STATES, BatchState, is_terminal
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.pathset import PathStatus

S, F = Assumption.SUCCEEDS, Assumption.FAILS
STATES = [s.value for s in ALL_STATES if s is not BatchState.CREATING]
PATH_STATUSES = [s.value for s in PathStatus if s is not PathStatus.UNKNOWN]
ACTIVE = ("created", "speculating", "merging", "cancelling")


@st.composite
def queues(draw, max_batches=6):
    """Batches q/0..q/n-1 depending on earlier ones, random states; each active head gets random
    paths, and often every combination of its dependencies, mostly passed (so that heads are
    covered, or covered but for one path)."""
    n = draw(st.integers(1, max_batches))
    batches = []
    for i in range(n):
        deps = tuple(f"q/{j}" for j in range(i) if draw(st.booleans()))
        batches.append(batch(f"q/{i}", draw(st.sampled_from(STATES)), deps))
    sets = []
    for b in batches:
        if b.state not in ACTIVE or not draw(st.booleans()):
            continue
        if draw(st.booleans()):
            guesses = list(itertools.product((S, F), repeat=len(b.dependencies)))
        else:
            guesses = [
                tuple(draw(st.sampled_from((S, F))) for _ in b.dependencies)
                for _ in range(draw(st.integers(0, 3)))
            ]
        entries = {}
        for guess in guesses:
            p = SpeculationPath(
                head=b.id,
                dependencies=tuple(
                    PathDependency(batch=d, assumption=a)
                    for d, a in zip(b.dependencies, guess, strict=True)
                ),
            )
            status = draw(st.sampled_from(["passed"] * 6 + PATH_STATUSES))
            entries[p.id] = entry(p, status, attempt=draw(st.sampled_from([1, 1, 1, 2])))
        sets.append(pset(b.id, *entries.values()))
    return batches, tuple(sets)


def came_true(assumption, state):
    if assumption is S:
        return state is BatchState.SUCCEEDED
    return state in (BatchState.FAILED, BatchState.CANCELLED)


def covered(head, path_set, state_of, unfinished):
    """Brute force: every outcome of the unfinished dependencies has a passed path agreeing with
    it that no finished dependency contradicts."""
    passed = [
        e.path
        for e in path_set.paths
        if e.status is PathStatus.PASSED
        and all(
            came_true(d.assumption, state_of(d.batch))
            for d in e.path.dependencies
            if is_terminal(state_of(d.batch))
        )
    ]
    for outcome in itertools.product((S, F), repeat=len(unfinished)):
        wanted = dict(zip(unfinished, outcome, strict=True))
        covered = ({(x.batch, x.assumption) for x in p.dependencies} for p in passed)
        if not any(wanted.items() <= assumptions for assumptions in covered):
            return False
    return True


@settings(max_examples=400, deadline=None)
@given(queues(), st.booleans())
def test_every_landing_is_on_a_passed_build_of_the_target_plus_the_head(queue, early):
    batches, sets = queue
    snapshot = snap(*batches, sets=sets)
    done = finalize(snapshot, now_ms=1, early_landing=early)
    after = done.snapshot
    merged = {o.head for o in done.committed if o.kind is OutcomeKind.MERGE}
    for outcome in done.committed:
        if outcome.kind is not OutcomeKind.MERGE:
            continue
        head = snapshot.batch(outcome.head)
        original = snapshot.path_set(outcome.head)
        winner = original.entry(outcome.winner)
        assert winner is not None and winner.status is PathStatus.PASSED
        # The winner's tree is the target as it is plus the head: each finished dependency as
        # guessed, each unfinished one guessed to fail (it is not on the target).
        for dep in winner.path.dependencies:
            state = after.state_of(dep.batch)
            if is_terminal(state):
                assert came_true(dep.assumption, state), (dep, state)
            else:
                assert dep.assumption is F, (dep, state)
        # Still unfinished after the run, so unfinished when the head was decided (a dependency
        # failed by this run's cascade may have failed before the head merged on it).
        unfinished = [d for d in head.dependencies if not is_terminal(after.state_of(d))]
        if unfinished:
            assert early, "landed ahead of an unfinished dependency without early landing"
            assert not any(snapshot.state_of(d) is BatchState.MERGING for d in unfinished)
            assert not any(d in merged for d in unfinished)
            assert not any(built_again(snapshot.path_set(d)) for d in unfinished)
            assert covered(head, original, snapshot.state_of, unfinished)


@settings(max_examples=300, deadline=None)
@given(queues())
def test_early_landing_only_adds_merges(queue):
    batches, sets = queue
    snapshot = snap(*batches, sets=sets)
    plain = finalize(snapshot, now_ms=1)
    early = finalize(snapshot, now_ms=1, early_landing=True)

    def decided(done, kind):
        return {o.head: o.winner for o in done.committed if o.kind is kind}

    assert decided(plain, OutcomeKind.FAIL) == decided(early, OutcomeKind.FAIL)
    assert decided(plain, OutcomeKind.CANCEL) == decided(early, OutcomeKind.CANCEL)
    assert decided(plain, OutcomeKind.MERGE).items() <= decided(early, OutcomeKind.MERGE).items()
