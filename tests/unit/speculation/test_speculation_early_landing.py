"""Early landing when covered (spec §7.2, "bypass") at the finalize level.

HEAD depends on DEP1 and DEP2. It lands ahead of them only when its passed paths cover every
outcome of those still unfinished, and then on the path guessing they all fail: the target as it
is plus HEAD, the tree that was built.
"""

import itertools

from speculation_helpers import F, S, batch, entry, path, pset, snap

from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.core.speculation.rules import covering_path, landing_path
from sq.submitqueue.entity.batch import BatchID, BatchState

HEAD = "q/batch/head"
DEP1 = "q/batch/dep1"
DEP2 = "q/batch/dep2"


def over(a1, a2):
    return path(HEAD, (DEP1, a1), (DEP2, a2))


def world(dep1, dep2, *entries):
    ps = pset(HEAD, *entries)
    return snap(
        batch(DEP1, dep1), batch(DEP2, dep2), batch(HEAD, "speculating", (DEP1, DEP2)), sets=(ps,)
    )


def every_combination(status="passed"):
    return [entry(over(a1, a2), status) for a1, a2 in itertools.product((S, F), repeat=2)]


def merged(done):
    return [(o.head, o.kind, o.winner) for o in done.committed]


def test_covered_head_lands_ahead_on_the_path_guessing_every_dependency_fails():
    snapshot = world("speculating", "speculating", *every_combination())
    done = finalize(snapshot, now_ms=1, early_landing=True)
    assert merged(done) == [(HEAD, OutcomeKind.MERGE, over(F, F).id)]
    assert BatchID(HEAD) not in done.open_heads


def test_without_the_setting_a_covered_head_waits():
    snapshot = world("speculating", "speculating", *every_combination())
    done = finalize(snapshot, now_ms=1)
    assert done.committed == ()
    assert BatchID(HEAD) in done.open_heads


def test_one_combination_missing_is_not_covered():
    for missing in range(4):
        entries = every_combination()
        del entries[missing]
        done = finalize(world("speculating", "speculating", *entries), now_ms=1, early_landing=True)
        assert done.committed == (), missing


def test_a_failed_or_running_path_does_not_cover_its_combination():
    for status in ("failed", "building", "pending", "cancelled"):
        entries = every_combination()
        entries[0] = entry(over(S, S), status)
        done = finalize(world("speculating", "speculating", *entries), now_ms=1, early_landing=True)
        assert done.committed == (), status


def test_only_unfinished_dependencies_need_covering():
    # DEP1 succeeded: the two paths guessing it succeeds cover DEP2's outcomes; the winner
    # stacks DEP1 (landed) and guesses DEP2 fails.
    snapshot = world(
        "succeeded", "speculating", entry(over(S, S), "passed"), entry(over(S, F), "passed")
    )
    done = finalize(snapshot, now_ms=1, early_landing=True)
    assert merged(done) == [(HEAD, OutcomeKind.MERGE, over(S, F).id)]


def test_paths_a_finished_dependency_contradicts_do_not_count():
    # DEP1 failed: paths guessing it succeeds are broken, so DEP2 is covered only by F-guesses.
    snapshot = world(
        "failed", "speculating", entry(over(S, S), "passed"), entry(over(F, F), "passed")
    )
    done = finalize(snapshot, now_ms=1, early_landing=True)
    assert done.committed == ()


def test_a_merging_dependency_is_waited_for():
    snapshot = world("merging", "speculating", *every_combination())
    done = finalize(snapshot, now_ms=1, early_landing=True)
    assert done.committed == ()


def test_with_every_dependency_finished_it_is_an_ordinary_merge():
    snapshot = world("succeeded", "failed", entry(over(S, F), "passed"))
    assert merged(finalize(snapshot, now_ms=1)) == merged(
        finalize(snapshot, now_ms=1, early_landing=True)
    )


def test_dependents_of_an_early_head_still_wait_for_it_to_land():
    # TAIL depends on HEAD and is covered too, but HEAD merges in this very run: TAIL must not
    # land ahead of a head that is about to land (it would only send HEAD back to build).
    tail = "q/batch/tail"
    tail_ps = pset(
        tail, entry(path(tail, (HEAD, S)), "passed"), entry(path(tail, (HEAD, F)), "passed")
    )
    snapshot = snap(
        batch(DEP1, "speculating"),
        batch(DEP2, "speculating"),
        batch(HEAD, "speculating", (DEP1, DEP2)),
        batch(tail, "speculating", (HEAD,)),
        sets=(pset(HEAD, *every_combination()), tail_ps),
    )
    done = finalize(snapshot, now_ms=1, early_landing=True)
    assert merged(done) == [(HEAD, OutcomeKind.MERGE, over(F, F).id)]
    assert BatchID(tail) in done.open_heads


def test_landing_path_follows_the_dependencies_as_they_finish():
    entries = every_combination()
    ps = pset(HEAD, *entries)
    state = {DEP1: BatchState.SPECULATING, DEP2: BatchState.SPECULATING}

    def state_of(b):
        return state.get(b, BatchState.UNKNOWN)

    assert landing_path(ps, state_of).path == over(F, F)
    state[DEP1] = BatchState.SUCCEEDED
    assert landing_path(ps, state_of).path == over(S, F)
    state[DEP2] = BatchState.CANCELLED
    assert landing_path(ps, state_of).path == over(S, F)
    head = batch(HEAD, "speculating", (DEP1, DEP2))
    assert covering_path(head, ps, state_of) is None  # nothing unfinished: not an early landing


def test_a_dependency_already_built_again_is_not_overtaken_twice():
    # DEP1's path was built again (attempt 2, not a CI loss): a head landed ahead of it once.
    dep1_path = path(DEP1)
    snapshot = snap(
        batch(DEP1, "speculating"),
        batch(DEP2, "succeeded"),
        batch(HEAD, "speculating", (DEP1, DEP2)),
        sets=(
            pset(DEP1, entry(dep1_path, "building", attempt=2)),
            pset(HEAD, entry(over(S, S), "passed"), entry(over(F, S), "passed")),
        ),
    )
    assert finalize(snapshot, now_ms=1, early_landing=True).committed == ()
    lost_once = pset(DEP1, entry(dep1_path, "building", attempt=2, lost=1))  # CI lost a build
    snapshot = snapshot.with_path_sets({BatchID(DEP1): lost_once})
    assert merged(finalize(snapshot, now_ms=1, early_landing=True)) == [
        (HEAD, OutcomeKind.MERGE, over(F, S).id)
    ]
