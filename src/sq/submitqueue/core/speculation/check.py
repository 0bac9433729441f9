"""Check: which of the Speculator's proposals the controller accepts (speculation-spec §3.6)."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from sq.submitqueue.core.speculation.rules import assumption_broken
from sq.submitqueue.entity.batch import Batch, BatchState
from sq.submitqueue.entity.path import Assumption, SpeculationPath
from sq.submitqueue.entity.pathset import PathStatus, is_path_terminal
from sq.submitqueue.entity.proposal import PathAction, Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot

_VALID_ASSUMPTIONS = frozenset({Assumption.SUCCEEDS, Assumption.FAILS})


class Rejection(enum.StrEnum):
    UNKNOWN_ACTION = "unknown_action"
    UNKNOWN_HEAD = "unknown_head"
    HEAD_NOT_SPECULATING = "head_not_speculating"
    MALFORMED_PATH = "malformed_path"
    BROKEN_ASSUMPTION = "broken_assumption"
    CANCEL_NOT_IN_FLIGHT = "cancel_not_in_flight"
    CANCEL_PASSED = "cancel_passed"
    PATH_TERMINAL = "path_terminal"


@dataclass(frozen=True, slots=True, kw_only=True)
class Rejected:
    proposal: Speculation
    reason: Rejection


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    accepted: tuple[Speculation, ...]
    rejected: tuple[Rejected, ...]


def is_well_formed(path: SpeculationPath, head: Batch) -> bool:
    """Exactly one valid assumption per dependency of `head`. Order is not checked (the reference
    does not), though the path id depends on it."""
    if path.head != head.id or len(path.dependencies) != len(head.dependencies):
        return False
    expected = set(head.dependencies)
    seen: set[str] = set()
    for dependency in path.dependencies:
        if dependency.batch not in expected or dependency.batch in seen:
            return False
        if dependency.assumption not in _VALID_ASSUMPTIONS:
            return False
        seen.add(dependency.batch)
    return True


def rejection_of(proposal: Speculation, snapshot: SpeculationSnapshot) -> Rejection | None:
    """The first rule `proposal` breaks against the post-finalize snapshot, or None to accept."""
    if proposal.action not in (PathAction.BUILD, PathAction.CANCEL):
        return Rejection.UNKNOWN_ACTION
    head = snapshot.batch(proposal.path.head)
    if head is None:
        return Rejection.UNKNOWN_HEAD
    if head.state is not BatchState.SPECULATING:
        return Rejection.HEAD_NOT_SPECULATING
    if not is_well_formed(proposal.path, head):
        return Rejection.MALFORMED_PATH
    if assumption_broken(proposal.path, snapshot.state_of):
        return Rejection.BROKEN_ASSUMPTION
    path_set = snapshot.path_set(head.id)
    stored = path_set.entry(proposal.path.id) if path_set else None
    if proposal.action is PathAction.CANCEL:
        if stored is None:
            return Rejection.CANCEL_NOT_IN_FLIGHT
        if stored.status is PathStatus.PASSED:
            return Rejection.CANCEL_PASSED
        if is_path_terminal(stored.status):
            return Rejection.CANCEL_NOT_IN_FLIGHT
        return None
    # A cancelled path may be built again as a new attempt: a preempted build was stopped for a
    # better one, not judged. A passed or failed path has its verdict and is never rebuilt.
    if (
        stored is not None
        and is_path_terminal(stored.status)
        and stored.status is not PathStatus.CANCELLED
    ):
        return Rejection.PATH_TERMINAL
    return None


def check_proposals(snapshot: SpeculationSnapshot, proposals: Iterable[Speculation]) -> CheckResult:
    """Filter each proposal independently; a rejection is reported, never fatal."""
    accepted: list[Speculation] = []
    rejected: list[Rejected] = []
    for proposal in proposals:
        reason = rejection_of(proposal, snapshot)
        if reason is None:
            accepted.append(proposal)
        else:
            rejected.append(Rejected(proposal=proposal, reason=reason))
    return CheckResult(accepted=tuple(accepted), rejected=tuple(rejected))
