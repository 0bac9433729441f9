"""Verdict rules over one head and its path set (speculation-spec §3.4).

Every function takes `state_of`, the batch states of the run's snapshot; a batch the snapshot does
not hold has state `UNKNOWN` and so is unresolved.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from sq.submitqueue.entity.batch import NOT_LANDED_STATES, Batch, BatchID, BatchState, is_terminal
from sq.submitqueue.entity.finished import IndexedStates
from sq.submitqueue.entity.path import Assumption, PathID, SpeculationPath
from sq.submitqueue.entity.pathset import (
    PathEntry,
    PathSet,
    PathStatus,
    is_path_terminal,
)

StateOf = Callable[[BatchID], BatchState]


def assumption_broken(path: SpeculationPath, state_of: StateOf) -> bool:
    """A finished dependency contradicts one of the path's guesses."""
    if isinstance(state_of, IndexedStates):
        return state_of.finished.contradicts(path)
    for dependency in path.dependencies:
        state = state_of(dependency.batch)
        if not is_terminal(state):
            continue
        succeeded = state is BatchState.SUCCEEDED
        if dependency.assumption is Assumption.SUCCEEDS and not succeeded:
            return True
        if dependency.assumption is Assumption.FAILS and succeeded:
            return True
    return False


def all_settled(path: SpeculationPath, state_of: StateOf) -> bool:
    """Every guess has come true. Merging, cancelling and speculating dependencies are unsettled."""
    if isinstance(state_of, IndexedStates):
        return state_of.finished.came_true(path)
    return all(came_true(d.assumption, state_of(d.batch)) for d in path.dependencies)


def came_true(assumption: Assumption, state: BatchState) -> bool:
    if assumption is Assumption.SUCCEEDS:
        return state is BatchState.SUCCEEDED
    return assumption is Assumption.FAILS and state in NOT_LANDED_STATES


def mergeable_path(path_set: PathSet | None, state_of: StateOf) -> PathEntry | None:
    """The first passed entry whose guesses have all come true: the exact tree that may land."""
    for entry in path_set.paths if path_set else ():
        if entry.status is PathStatus.PASSED and all_settled(entry.path, state_of):
            return entry
    return None


def landing_path(path_set: PathSet | None, state_of: StateOf) -> PathEntry | None:
    """The first passed entry whose tree is the target as it is now plus the head: every guess
    about a finished dependency came true, and every unfinished one is guessed to fail (it has
    not landed). With every dependency finished this is `mergeable_path`."""
    for entry in path_set.paths if path_set else ():
        if entry.status is PathStatus.PASSED and _lands_now(entry.path, state_of):
            return entry
    return None


def _lands_now(path: SpeculationPath, state_of: StateOf) -> bool:
    for dependency in path.dependencies:
        state = state_of(dependency.batch)
        if is_terminal(state):
            if not came_true(dependency.assumption, state):
                return False
        elif dependency.assumption is not Assumption.FAILS:
            return False
    return True


MAX_COVERED_DEPENDENCIES = 10
"""Beyond this many unfinished dependencies no head is covered (2^10 passed builds)."""


def built_again(path_set: PathSet | None) -> bool:
    """Some path of the head was built again for a reason other than losing its build (to CI or
    with its runner): its landing was outdated (a head landed ahead of it) or its build was
    preempted."""
    return any(e.attempt > e.lost + e.relaunched + 1 for e in path_set.paths) if path_set else False


def _never(batch: BatchID) -> bool:
    return False


def covering_path(
    head: Batch,
    path_set: PathSet | None,
    state_of: StateOf,
    overtaken: Callable[[BatchID], bool] = _never,
) -> PathEntry | None:
    """The path that lands `head` ahead of its unfinished dependencies (spec §7.2, "bypass").

    Only when the passed entries consistent with the finished dependencies cover every
    combination of outcomes of the unfinished ones, none of which is `merging` (that one is
    about to land: landing ahead of it would only send it back to build) or `overtaken` (already
    built again, see `built_again`: a dependency is overtaken at most once, so a stream of
    covered dependents cannot starve it). The path that lands is the one guessing every
    unfinished dependency fails: its tree is the target plus the head, exactly what was built.
    None when the head has no unfinished dependency (that is an ordinary merge) or is not covered.
    """
    unfinished = [d for d in head.dependencies if not is_terminal(state_of(d))]
    if not unfinished or len(unfinished) > MAX_COVERED_DEPENDENCIES:
        return None
    if any(state_of(d) is BatchState.MERGING or overtaken(d) for d in unfinished):
        return None
    passed = [
        e
        for e in (path_set.paths if path_set else ())
        if e.status is PathStatus.PASSED and not assumption_broken(e.path, state_of)
    ]
    if len(passed) < 1 << len(unfinished):
        return None
    combinations: set[tuple[Assumption | None, ...]] = set()
    for entry in passed:
        guesses = {d.batch: d.assumption for d in entry.path.dependencies}
        combination = tuple(guesses.get(d) for d in unfinished)
        if all(g in _DECIDED_GUESSES for g in combination):
            combinations.add(combination)
    if len(combinations) < 1 << len(unfinished):
        return None
    return landing_path(path_set, state_of)


_DECIDED_GUESSES = frozenset({Assumption.SUCCEEDS, Assumption.FAILS})


def live_passed_path(path_set: PathSet | None, state_of: StateOf) -> PathEntry | None:
    """The first passed entry not (yet) contradicted; reported to the user, never acted on."""
    for entry in path_set.paths if path_set else ():
        if entry.status is PathStatus.PASSED and not assumption_broken(entry.path, state_of):
            return entry
    return None


def no_viable_future(head: Batch, path_set: PathSet | None, state_of: StateOf) -> bool:
    """Every dependency has finished and every path still consistent with them is dead.

    A head with no consistent entry is not failed: it waits for one to be funded. Unlike the
    reference, a consistent entry that CI cancelled on every attempt it gets counts as dead like
    `failed` (spec §7): otherwise the head would wait forever (see fold.py). One cancelled on
    request (a preempted build) is not dead: the value speculator builds it again.
    """
    if isinstance(state_of, IndexedStates):
        if not state_of.finished.all_finished(head.dependencies):
            return False
    elif not all(is_terminal(state_of(d)) for d in head.dependencies):
        return False
    live = (
        [e for e in path_set.paths if not assumption_broken(e.path, state_of)] if path_set else []
    )
    return bool(live) and all(_dead(e) for e in live)


def _dead(entry: PathEntry) -> bool:
    return entry.status is PathStatus.FAILED or entry.cancelled_for_good


class Verdict(enum.StrEnum):
    MERGE = "merge"
    FAIL = "fail"
    WAIT = "wait"


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    verdict: Verdict
    winner: PathEntry | None = None  # the path that lands, for MERGE


def decide(
    head: Batch,
    path_set: PathSet | None,
    state_of: StateOf,
    *,
    early_landing: bool = False,
    overtaken: Callable[[BatchID], bool] = _never,
) -> Decision:
    """Merge on a mergeable path, or with `early_landing` on a covering one; else fail when no
    future is viable; else wait."""
    winner = mergeable_path(path_set, state_of)
    if winner is None and early_landing:
        winner = covering_path(head, path_set, state_of, overtaken)
    if winner is not None:
        return Decision(verdict=Verdict.MERGE, winner=winner)
    if no_viable_future(head, path_set, state_of):
        return Decision(verdict=Verdict.FAIL)
    return Decision(verdict=Verdict.WAIT)


def mark_cancelling(
    path_set: PathSet, keep: Callable[[PathEntry], bool], now_ms: int
) -> tuple[PathSet, bool]:
    """Every entry neither finished, already cancelling, nor kept becomes `cancelling`."""

    def change(entry: PathEntry) -> PathEntry:
        if is_path_terminal(entry.status) or entry.status is PathStatus.CANCELLING or keep(entry):
            return entry
        return entry.with_status(PathStatus.CANCELLING, now_ms)

    return path_set.map_entries(change)


def cancel_broken(path_set: PathSet, state_of: StateOf, now_ms: int) -> tuple[PathSet, bool]:
    return mark_cancelling(path_set, lambda e: not assumption_broken(e.path, state_of), now_ms)


def supersede(path_set: PathSet, winner: PathID, now_ms: int) -> tuple[PathSet, bool]:
    return mark_cancelling(path_set, lambda e: e.id == winner, now_ms)


def cancel_all(path_set: PathSet, now_ms: int) -> tuple[PathSet, bool]:
    return mark_cancelling(path_set, lambda e: False, now_ms)


def all_paths_stopped(path_set: PathSet | None) -> bool:
    return all(is_path_terminal(e.status) for e in path_set.paths) if path_set else True
