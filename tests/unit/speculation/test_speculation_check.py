"""Proposal check, vectors E14 (speculation-spec §6.3, §3.6)."""

import pytest
from speculation_helpers import F, S, batch, entry, path, pset, snap

from sq.submitqueue.core.speculation.check import Rejection, check_proposals, is_well_formed
from sq.submitqueue.entity.path import Assumption
from sq.submitqueue.entity.proposal import PathAction, Speculation

HEAD = "q/batch/head"
DEP1 = "q/batch/dep1"
DEP2 = "q/batch/dep2"
HEAD_BATCH = batch(HEAD, deps=(DEP1, DEP2))


@pytest.mark.parametrize(
    ("p", "ok"),
    [
        (path(HEAD, (DEP1, S), (DEP2, F)), True),
        (path(HEAD, (DEP2, S), (DEP1, F)), True),
        (path(HEAD, (DEP1, S)), False),
        (path(HEAD, (DEP1, S), (DEP1, F)), False),
        (path(HEAD, (DEP1, S), ("q/batch/other", F)), False),
        (path(HEAD, (DEP1, S), (DEP2, Assumption.UNKNOWN)), False),
        (path("q/batch/other", (DEP1, S), (DEP2, F)), False),
    ],
)
def test_e14_is_well_formed(p, ok):
    assert is_well_formed(p, HEAD_BATCH) is ok


def world(head_state="speculating", dep1="speculating", *entries):
    sets = (pset(HEAD, *entries),) if entries else ()
    return snap(batch(DEP1, dep1), batch(DEP2), batch(HEAD, head_state, (DEP1, DEP2)), sets=sets)


SF = path(HEAD, (DEP1, S), (DEP2, F))


def proposal(p=SF, action=PathAction.BUILD):
    return Speculation(path=p, action=action)


@pytest.mark.parametrize(
    ("s", "prop", "reason"),
    [
        (world(), proposal(action=PathAction.UNKNOWN), Rejection.UNKNOWN_ACTION),
        (world(), proposal(path("q/batch/ghost")), Rejection.UNKNOWN_HEAD),
        (world("merging"), proposal(), Rejection.HEAD_NOT_SPECULATING),
        (world("cancelling"), proposal(), Rejection.HEAD_NOT_SPECULATING),
        (world(), proposal(path(HEAD, (DEP1, S))), Rejection.MALFORMED_PATH),
        (world(), proposal(action=PathAction.CANCEL), Rejection.CANCEL_NOT_IN_FLIGHT),
        (
            world("speculating", "speculating", entry(SF, "failed")),
            proposal(action=PathAction.CANCEL),
            Rejection.CANCEL_NOT_IN_FLIGHT,
        ),
        (
            world("speculating", "speculating", entry(SF, "passed")),
            proposal(action=PathAction.CANCEL),
            Rejection.CANCEL_PASSED,
        ),
        (
            world("speculating", "speculating", entry(SF, "passed")),
            proposal(),
            Rejection.PATH_TERMINAL,
        ),
        (world("speculating", "failed"), proposal(), Rejection.BROKEN_ASSUMPTION),
    ],
)
def test_e14_filter_proposals_rejects(s, prop, reason):
    result = check_proposals(s, [prop])
    assert result.accepted == ()
    assert [r.reason for r in result.rejected] == [reason]


@pytest.mark.parametrize("status", ["pending", "building"])
def test_e14_keeps_cancel_of_running_path(status):
    prop = proposal(action=PathAction.CANCEL)
    result = check_proposals(world("speculating", "speculating", entry(SF, status)), [prop])
    assert result.accepted == (prop,)


def test_e14_filters_independently():
    bad, good = proposal(path(HEAD, (DEP1, S))), proposal()
    result = check_proposals(world(), [bad, good])
    assert result.accepted == (good,)
    assert [(r.proposal, r.reason) for r in result.rejected] == [(bad, Rejection.MALFORMED_PATH)]


def test_build_of_a_stored_live_path_is_accepted():
    assert check_proposals(
        world("speculating", "speculating", entry(SF, "building")), [proposal()]
    ).accepted
