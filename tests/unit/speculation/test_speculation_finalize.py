"""Run-level vectors E15 (speculation-spec §6.3) expressed on the pure fold, finalize and dispatch
steps. Publishing, trigger handling and storage races are the DB-backed controller's."""

import pytest
from speculation_helpers import F, S, batch, entry, path, pset, snap

from sq.submitqueue.core.speculation import rules
from sq.submitqueue.core.speculation.check import Rejection, check_proposals
from sq.submitqueue.core.speculation.dispatch import apply_proposals, needs_dispatch
from sq.submitqueue.core.speculation.finalize import (
    FAILURE_REASON,
    EventKind,
    OutcomeKind,
    finalize,
    finalize_steps,
)
from sq.submitqueue.core.speculation.fold import fold_path_set
from sq.submitqueue.entity.batch import BatchState
from sq.submitqueue.entity.build import Build, BuildStatus
from sq.submitqueue.entity.pathset import MAX_RELAUNCHES
from sq.submitqueue.entity.proposal import PathAction, Speculation

HEAD = "q/batch/head"
DEP1 = "q/batch/dep1"
DEP2 = "q/batch/dep2"


def path_over(a1, a2):
    return path(HEAD, (DEP1, a1), (DEP2, a2))


def world(dep1, dep2, *sets, head_state="speculating", extra=()):
    return snap(
        batch(DEP1, dep1),
        batch(DEP2, dep2),
        batch(HEAD, head_state, (DEP1, DEP2)),
        *extra,
        sets=sets,
    )


def statuses(ps):
    return [e.status.value for e in ps.paths]


def build_for(e, status):
    return {
        e.execution: Build(
            id="b1", batch_id=HEAD, path_id=e.id, attempt=e.attempt, status=BuildStatus(status)
        )
    }


def never(outcome):
    return False


def test_cancels_broken_path_and_leaves_it_for_dispatch_to_persist():
    ps = pset(HEAD, entry(path_over(S, F), "building"), version=2)
    done = finalize(world("failed", "speculating", ps), now_ms=7)
    assert statuses(done.snapshot.path_set(HEAD)) == ["cancelling"]
    assert done.dirty == {HEAD}
    assert done.committed == ()
    assert done.open_heads == (DEP2, HEAD)


def test_decided_head_is_not_speculated_on():
    ps = pset(HEAD, entry(path_over(S, F), "passed"))
    done = finalize(world("succeeded", "failed", ps), now_ms=1)
    (outcome,) = done.committed
    assert outcome.kind is OutcomeKind.MERGE
    assert outcome.new_state is BatchState.MERGING
    assert outcome.winner == path_over(S, F).id
    assert outcome.persist_path_set is False
    assert done.open_heads == ()
    # merging is not terminal: the snapshot still reads speculating for this run (§3.5)
    assert done.snapshot.state_of(HEAD) is BatchState.SPECULATING


def test_mergeable_head_gains_no_new_path_and_its_sibling_is_cancelled():
    ps = pset(HEAD, entry(path_over(S, F), "passed"), entry(path_over(F, F), "building"))
    done = finalize(world("succeeded", "failed", ps), now_ms=1)
    (outcome,) = done.committed
    assert outcome.persist_path_set
    assert outcome.path_set is not None
    assert statuses(outcome.path_set) == ["passed", "cancelling"]
    assert done.snapshot.path_set(HEAD).version == 2
    assert done.dirty == frozenset()
    assert done.open_heads == ()


def test_mergeable_head_whose_state_write_loses_is_dropped():
    ps = pset(HEAD, entry(path_over(S, S), "passed"))
    done = finalize(world("succeeded", "succeeded", ps), now_ms=1, commit=never)
    assert done.committed == ()
    assert done.open_heads == ()


def test_failed_head_concludes_with_the_reason():
    ps = pset(HEAD, entry(path_over(S, S), "failed"))
    done = finalize(world("succeeded", "succeeded", ps), now_ms=1)
    (outcome,) = done.committed
    assert outcome.kind is OutcomeKind.FAIL
    assert outcome.failure_reason == FAILURE_REASON
    assert done.snapshot.state_of(HEAD) is BatchState.FAILED


def test_failure_cascades_within_one_run_regardless_of_order():
    dependent = batch("q/dependent", deps=("q/head",))
    head = batch("q/head")
    sets = (
        pset("q/head", entry(path("q/head"), "failed")),
        pset("q/dependent", entry(path("q/dependent", ("q/head", F)), "failed")),
    )
    done = finalize(snap(dependent, head, sets=sets), now_ms=1)
    assert [(o.head, o.kind) for o in done.committed] == [
        ("q/head", OutcomeKind.FAIL),
        ("q/dependent", OutcomeKind.FAIL),
    ]
    assert done.open_heads == ()


def cancelling_world(*entries):
    sets = (pset(HEAD, *entries, version=2),) if entries else ()
    return world("speculating", "speculating", *sets, head_state="cancelling")


def test_cancelling_batch_finalizes_once_its_build_is_cancelled():
    e = entry(path_over(S, S), "cancelling")
    s = cancelling_world(e)
    folded, changed = fold_path_set(s.path_set(HEAD), build_for(e, "cancelled"), 3)
    assert changed
    done = finalize(s.with_path_sets({HEAD: folded}), now_ms=3, dirty=frozenset({HEAD}))
    (outcome,) = done.committed
    assert outcome.kind is OutcomeKind.CANCEL
    assert outcome.persist_path_set
    assert statuses(outcome.path_set) == ["cancelled"]
    assert done.snapshot.state_of(HEAD) is BatchState.CANCELLED


def test_cancelling_batch_waits_for_builds_to_stop():
    e = entry(path_over(S, S), "building")
    s = cancelling_world(e)
    folded, changed = fold_path_set(s.path_set(HEAD), build_for(e, "running"), 3)
    assert not changed
    done = finalize(s.with_path_sets({HEAD: folded}), now_ms=3)
    assert done.committed == ()
    assert statuses(done.snapshot.path_set(HEAD)) == ["cancelling"]
    assert done.dirty == {HEAD}


def test_cancelling_path_with_no_build_is_cancelled():
    e = entry(path_over(S, S), "cancelling")
    s = cancelling_world(e)
    folded, changed = fold_path_set(s.path_set(HEAD), {}, 3)
    assert changed
    assert statuses(folded) == ["cancelled"]
    done = finalize(s.with_path_sets({HEAD: folded}), now_ms=3, dirty=frozenset({HEAD}))
    assert [o.kind for o in done.committed] == [OutcomeKind.CANCEL]


def test_cancelling_batch_with_no_paths():
    done = finalize(cancelling_world(), now_ms=3)
    (outcome,) = done.committed
    assert outcome.kind is OutcomeKind.CANCEL
    assert outcome.path_set is None


def test_cancelling_lost_race_skips_the_terminal_write():
    done = finalize(cancelling_world(), now_ms=3, commit=never)
    assert done.committed == ()
    assert done.snapshot.state_of(HEAD) is BatchState.CANCELLING


def test_cancelling_path_with_a_live_build_stays_cancelling():
    e = entry(path_over(S, S), "cancelling")
    s = cancelling_world(e)
    folded, changed = fold_path_set(s.path_set(HEAD), build_for(e, "running"), 3)
    assert not changed
    done = finalize(s.with_path_sets({HEAD: folded}), now_ms=3)
    assert done.committed == ()
    assert done.dirty == frozenset()


def test_speculator_sees_path_sets_of_non_open_heads():
    merging = batch("q/merging", "merging")
    e = entry(path("q/merging"), "cancelling")
    s = snap(batch("q/open"), merging, sets=(pset("q/open", version=1), pset("q/merging", e)))
    folded, changed = fold_path_set(s.path_set("q/merging"), {}, 1)
    done = finalize(
        s.with_path_sets({"q/merging": folded}), now_ms=1, dirty=frozenset({"q/merging"})
    )
    assert changed
    assert done.open_heads == ("q/open",)
    assert [p.head for p in done.snapshot.path_sets] == ["q/open", "q/merging"]
    assert len(done.snapshot.batches) == 2
    assert done.dirty == {"q/merging"}


def test_no_speculating_batches_means_no_open_heads():
    assert finalize(snap(batch("q/m", "merging")), now_ms=1).open_heads == ()


def test_cascade_stops_when_the_prerequisite_state_write_loses():
    prereq = batch("q/prereq", "cancelling")
    derived = batch("q/derived", deps=("q/prereq",))
    sets = (pset("q/derived", entry(path("q/derived", ("q/prereq", F)), "failed")),)
    s = snap(prereq, derived, sets=sets)
    lost = finalize(s, now_ms=1, commit=lambda o: o.head != "q/prereq")
    assert lost.committed == ()
    assert lost.open_heads == ("q/derived",)
    won = finalize(s, now_ms=1)
    assert [(o.head, o.kind) for o in won.committed] == [
        ("q/prereq", OutcomeKind.CANCEL),
        ("q/derived", OutcomeKind.FAIL),
    ]


def test_unrelated_outcome_still_commits_after_a_lost_race():
    sets = (pset("q/independent", entry(path("q/independent"), "failed")),)
    s = snap(batch("q/loser", "cancelling"), batch("q/independent"), sets=sets)
    done = finalize(s, now_ms=1, commit=lambda o: o.head != "q/loser")
    assert [(o.head, o.kind) for o in done.committed] == [("q/independent", OutcomeKind.FAIL)]


def test_steps_yield_each_outcome_before_deriving_from_it():
    dependent = batch("q/dependent", deps=("q/head",))
    sets = (
        pset("q/head", entry(path("q/head"), "failed")),
        pset("q/dependent", entry(path("q/dependent", ("q/head", F)), "failed")),
    )
    steps = finalize_steps(snap(dependent, batch("q/head"), sets=sets), now_ms=1)
    first = next(steps)
    assert first.head == "q/head"
    second = steps.send(True)
    assert second.head == "q/dependent"
    with pytest.raises(StopIteration):
        steps.send(True)


def test_reports_passed_path_while_waiting():
    ps = pset(HEAD, entry(path_over(S, S), "passed"))
    done = finalize(world("succeeded", "speculating", ps), now_ms=1)
    assert [(e.kind, e.path_id) for e in done.events] == [(EventKind.WAITING, path_over(S, S).id)]


def test_reports_invalidated_when_passed_path_breaks():
    ps = pset(HEAD, entry(path_over(S, F), "passed"))
    done = finalize(world("succeeded", "succeeded", ps), now_ms=1)
    assert [(e.kind, e.path_id) for e in done.events] == [
        (EventKind.INVALIDATED, path_over(S, F).id)
    ]


def test_merging_head_reports_no_wait():
    ps = pset(HEAD, entry(path_over(S, S), "passed"))
    assert finalize(world("succeeded", "succeeded", ps), now_ms=1).events == ()


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        ("succeeded", "passed"),
        ("failed", "failed"),
        ("cancelled", "pending"),
        ("running", "building"),
    ],
)
def test_records_finished_builds_on_paths(build, expected):
    e = entry(path_over(S, S), "pending")
    folded, changed = fold_path_set(pset(HEAD, e), build_for(e, build), 9)
    assert changed
    assert statuses(folded) == [expected]


def test_build_update_does_not_override_cancelling_intent():
    e = entry(path_over(S, S), "cancelling")
    assert fold_path_set(pset(HEAD, e), build_for(e, "running"), 9)[1] is False


def test_link_without_build_row_is_not_started():
    e = entry(path_over(S, S), "pending")
    assert fold_path_set(pset(HEAD, e), {e.execution: None}, 9)[1] is False


def test_ci_cancelled_build_is_retried_then_fails_the_head():
    # spec §7: a build CI cancelled on its own must not leave its head waiting forever.
    e = entry(path_over(S, S), "building")
    folded, _ = fold_path_set(pset(HEAD, e), build_for(e, "cancelled"), 9)
    (retry,) = folded.paths
    assert (retry.status.value, retry.attempt, retry.lost) == ("pending", 2, 1)
    assert needs_dispatch(folded)
    last = entry(path_over(S, S), "building", attempt=3, lost=2)
    folded, _ = fold_path_set(pset(HEAD, last), build_for(last, "cancelled"), 9)
    assert statuses(folded) == ["cancelled"]
    done = finalize(world("succeeded", "succeeded", folded), now_ms=9)
    assert [o.kind for o in done.committed] == [OutcomeKind.FAIL]


def test_a_build_lost_with_its_runner_is_built_again_up_to_its_own_far_larger_cap():
    # A crash of our own process (or an owner that fell silent) loses the build, not CI: the path
    # is built again though CI's cap is spent, until a build keeps taking its runner down.
    e = entry(path_over(S, S), "building", attempt=3, lost=2)
    for n in range(1, MAX_RELAUNCHES):
        e, _ = fold_path_set(pset(HEAD, e), build_for(e, "lost"), 9)
        (e,) = e.paths
        assert (e.status.value, e.attempt, e.lost, e.relaunched) == ("pending", 3 + n, 2, n)
        assert not e.cancelled_for_good
        assert not rules.built_again(pset(HEAD, e))
        done = finalize(world("succeeded", "succeeded", pset(HEAD, e)), now_ms=9)
        assert OutcomeKind.FAIL not in [o.kind for o in done.committed]
    folded, _ = fold_path_set(pset(HEAD, e), build_for(e, "lost"), 9)
    assert statuses(folded) == ["cancelled"] and folded.paths[0].cancelled_for_good
    done = finalize(world("succeeded", "succeeded", folded), now_ms=9)
    assert [o.kind for o in done.committed] == [OutcomeKind.FAIL]


def test_a_lost_build_of_a_path_being_stopped_is_cancelled():
    e = entry(path_over(S, S), "cancelling")
    folded, _ = fold_path_set(pset(HEAD, e), build_for(e, "lost"), 9)
    assert statuses(folded) == ["cancelled"]


def test_attempts_after_outdated_landings_do_not_count_as_lost_builds():
    # A path sent back twice because the target moved (attempt 3) whose build is then lost in a
    # crash is retried: only lost builds count against the cap.
    e = entry(path_over(S, S), "building", attempt=3)
    folded, _ = fold_path_set(pset(HEAD, e), build_for(e, "cancelled"), 9)
    (retry,) = folded.paths
    assert (retry.status.value, retry.attempt, retry.lost) == ("pending", 4, 1)


def test_funds_proposed_path():
    p = path_over(S, F)
    ps, changed = apply_proposals(
        pset(HEAD, version=0), [Speculation(path=p, action=PathAction.BUILD)], 5
    )
    assert changed
    (e,) = ps.paths
    assert (e.id, e.status.value, e.attempt, e.created_at_ms) == (p.id, "pending", 1, 5)
    assert needs_dispatch(ps)


def test_already_funded_path_is_not_refunded():
    ps = pset(HEAD, entry(path_over(S, F), "building"))
    prop = Speculation(path=path_over(S, F), action=PathAction.BUILD)
    assert apply_proposals(ps, [prop], 5) == (ps, False)
    assert not needs_dispatch(ps)


def test_redispatches_pending_path():
    assert needs_dispatch(pset(HEAD, entry(path_over(S, F), "pending")))


def test_accepted_cancel_marks_cancelling_and_unknown_cancel_is_ignored():
    ps = pset(HEAD, entry(path_over(S, F), "building"))
    cancels = [
        Speculation(path=path_over(S, F), action=PathAction.CANCEL),
        Speculation(path=path_over(F, F), action=PathAction.CANCEL),
    ]
    after, changed = apply_proposals(ps, cancels, 5)
    assert changed
    assert statuses(after) == ["cancelling"]


def test_drops_rejected_proposal():
    prop = Speculation(path=path(HEAD, (DEP1, S)), action=PathAction.BUILD)
    result = check_proposals(world("speculating", "speculating"), [prop])
    assert [r.reason for r in result.rejected] == [Rejection.MALFORMED_PATH]
