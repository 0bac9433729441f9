"""Controller verdict rules, vectors E9-E13 (speculation-spec §6.3)."""

import pytest
from speculation_helpers import F, S, batch, entry, path, pset, snap

from sq.submitqueue.core.speculation import rules
from sq.submitqueue.entity.pathset import PathStatus

HEAD = "q/batch/head"
DEP1 = "q/batch/dep1"
DEP2 = "q/batch/dep2"


def path_over(a1, a2):
    return path(HEAD, (DEP1, a1), (DEP2, a2))


def world(dep1, dep2="speculating", *sets):
    return snap(batch(DEP1, dep1), batch(DEP2, dep2), batch(HEAD, deps=(DEP1, DEP2)), sets=sets)


def head_of(s):
    return s.batch(HEAD)


@pytest.mark.parametrize(
    ("assumption", "dep1", "broken"),
    [
        (S, "speculating", False),
        (S, "succeeded", False),
        (S, "failed", True),
        (S, "cancelled", True),
        (F, "speculating", False),
        (F, "failed", False),
        (F, "cancelled", False),
        (F, "succeeded", True),
    ],
)
def test_e9_assumption_broken(assumption, dep1, broken):
    s = world(dep1)
    assert rules.assumption_broken(path_over(assumption, F), s.state_of) is broken


def test_e9_unknown_dependency_is_not_broken():
    s = snap(batch(HEAD, deps=(DEP1,)))
    assert not rules.assumption_broken(path(HEAD, (DEP1, S)), s.state_of)


@pytest.mark.parametrize(
    ("a1", "a2", "dep1", "dep2", "mergeable"),
    [
        (S, F, "speculating", "failed", False),
        (S, F, "succeeded", "failed", True),
        (S, F, "merging", "failed", False),
        (F, F, "speculating", "failed", False),
        (F, F, "merging", "failed", False),
        (F, F, "cancelling", "failed", False),
        (F, F, "failed", "failed", True),
        (F, F, "cancelled", "failed", True),
        (S, S, "succeeded", "speculating", False),
    ],
)
def test_e10_mergeable_path(a1, a2, dep1, dep2, mergeable):
    p = path_over(a1, a2)
    s = world(dep1, dep2, pset(HEAD, entry(p, "passed")))
    found = rules.mergeable_path(s.path_set(HEAD), s.state_of)
    assert (found is not None) is mergeable


@pytest.mark.parametrize("status", ["pending", "building", "failed", "cancelled", "cancelling"])
def test_e10_mergeable_ignores_unpassed_paths(status):
    s = world("succeeded", "succeeded", pset(HEAD, entry(path_over(S, S), status)))
    assert rules.mergeable_path(s.path_set(HEAD), s.state_of) is None


def test_e10_mergeable_excludes_broken_passed_path():
    s = world("succeeded", "failed", pset(HEAD, entry(path_over(F, F), "passed")))
    assert rules.mergeable_path(s.path_set(HEAD), s.state_of) is None


@pytest.mark.parametrize(
    ("a", "status", "dep1", "dep2", "live"),
    [
        (S, "passed", "speculating", "succeeded", True),
        (S, "passed", "succeeded", "succeeded", True),
        (S, "building", "succeeded", "succeeded", False),
        (F, "passed", "succeeded", "speculating", False),
    ],
)
def test_e10_live_passed_path(a, status, dep1, dep2, live):
    s = world(dep1, dep2, pset(HEAD, entry(path_over(a, a), status)))
    assert (rules.live_passed_path(s.path_set(HEAD), s.state_of) is not None) is live


def failed_ss():
    return entry(path_over(S, S), "failed")


@pytest.mark.parametrize(
    ("dep2", "entries", "expected"),
    [
        ("speculating", [failed_ss()], False),
        ("succeeded", [failed_ss()], True),
        ("succeeded", [failed_ss(), entry(path_over(S, S), "building", entry_id="other")], False),
        ("succeeded", [], False),
        ("succeeded", [entry(path_over(F, S), "failed")], False),
    ],
)
def test_e11_has_no_viable_future(dep2, entries, expected):
    s = world("succeeded", dep2, pset(HEAD, *entries))
    assert rules.no_viable_future(head_of(s), s.path_set(HEAD), s.state_of) is expected


def test_no_viable_future_counts_a_ci_cancelled_live_path_as_dead():
    # spec §7: the reference would wait forever here.
    last = entry(path_over(S, S), "cancelled", attempt=3, lost=2)
    s = world("succeeded", "succeeded", pset(HEAD, last))
    assert rules.no_viable_future(head_of(s), s.path_set(HEAD), s.state_of)
    assert rules.decide(head_of(s), s.path_set(HEAD), s.state_of).verdict is rules.Verdict.FAIL


def test_a_path_rebuilt_after_outdated_landings_and_then_preempted_is_not_dead():
    # Attempts after an outdated landing are not lost builds: the path may still be built again.
    again = entry(path_over(S, S), "cancelled", attempt=3)
    s = world("succeeded", "succeeded", pset(HEAD, again))
    assert not rules.no_viable_future(head_of(s), s.path_set(HEAD), s.state_of)


def test_a_preempted_live_path_is_not_dead():
    s = world("succeeded", "succeeded", pset(HEAD, entry(path_over(S, S), "cancelled")))
    assert not rules.no_viable_future(head_of(s), s.path_set(HEAD), s.state_of)
    assert rules.decide(head_of(s), s.path_set(HEAD), s.state_of).verdict is rules.Verdict.WAIT


@pytest.mark.parametrize(
    ("entries", "verdict"),
    [
        ([entry(path_over(S, S), "passed")], rules.Verdict.MERGE),
        ([entry(path_over(S, S), "failed")], rules.Verdict.FAIL),
        ([entry(path_over(S, F), "building")], rules.Verdict.WAIT),
        (
            [
                entry(path_over(S, S), "failed", entry_id="failed-attempt"),
                entry(path_over(S, S), "passed"),
            ],
            rules.Verdict.MERGE,
        ),
    ],
)
def test_e12_decide(entries, verdict):
    s = world("succeeded", "succeeded", pset(HEAD, *entries))
    decision = rules.decide(head_of(s), s.path_set(HEAD), s.state_of)
    assert decision.verdict is verdict
    if verdict is rules.Verdict.MERGE:
        assert decision.winner is not None
        assert decision.winner.status is PathStatus.PASSED


def statuses(ps):
    return [e.status.value for e in ps.paths]


def test_e13_supersede():
    winner = entry(path_over(S, S), "passed")
    ps = pset(HEAD, winner, entry(path_over(F, S), "building"), entry(path_over(F, F), "failed"))
    after, changed = rules.supersede(ps, winner.id, 99)
    assert changed
    assert statuses(after) == ["passed", "cancelling", "failed"]
    assert after.paths[1].updated_at_ms == 99
    assert rules.supersede(after, winner.id, 100) == (after, False)


def test_e13_cancel_all_paths():
    ps = pset(HEAD, entry(path_over(S, S), "building"), entry(path_over(F, S), "passed"))
    after, changed = rules.cancel_all(ps, 5)
    assert changed
    assert statuses(after) == ["cancelling", "passed"]
    assert rules.cancel_all(after, 6)[1] is False


@pytest.mark.parametrize(
    ("entries", "stopped"),
    [(["cancelled"], True), ([], True), (["building"], False), (["cancelling"], False)],
)
def test_e13_all_paths_stopped(entries, stopped):
    ps = pset(HEAD, *(entry(path_over(S, S), st) for st in entries))
    assert rules.all_paths_stopped(ps) is stopped


def test_e13_cancel_broken_paths_in_set():
    ps = pset(HEAD, entry(path_over(S, F), "building"), entry(path_over(F, F), "pending"))
    s = world("failed", "speculating", ps)
    after, changed = rules.cancel_broken(ps, s.state_of, 42)
    assert changed
    assert statuses(after) == ["cancelling", "pending"]
    assert after.paths[0].updated_at_ms == 42


@pytest.mark.parametrize("status", ["passed", "failed", "cancelled", "cancelling"])
def test_e13_cancel_broken_leaves_finished_paths(status):
    ps = pset(HEAD, entry(path_over(S, F), status))
    s = world("failed", "speculating", ps)
    assert rules.cancel_broken(ps, s.state_of, 42) == (ps, False)
