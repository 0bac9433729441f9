"""Pending-failure depth (doc/controls.md): a head with no viable future is kept while a
dependent close behind it still builds a tree containing it, and lands inside that tree if the
build passes.

Only the direct case is supported: the dependent's passed path guesses that the failed head
succeeds, every other guess has come true, and the failed head is the last change the path
applies before the dependent's own. Then the dependent's landing is the passing build's tree
exactly: the target (the build's base plus the landings it assumed) plus the failed head's
changes plus the dependent's.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from sq.submitqueue.core.speculation import rules
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, is_terminal
from sq.submitqueue.entity.path import Assumption, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus


def carried_by(path: SpeculationPath, state_of: rules.StateOf) -> BatchID | None:
    """The one unfinished (speculating) dependency `path` guesses succeeds, when every other
    guess has come true and no dependency guessed to succeed comes after it; else None."""
    carried: BatchID | None = None
    for dependency in path.dependencies:
        state = state_of(dependency.batch)
        if is_terminal(state):
            if not rules.came_true(dependency.assumption, state):
                return None
            if dependency.assumption is Assumption.SUCCEEDS and carried is not None:
                return None  # it landed after the carried one was applied: another order
        elif (
            dependency.assumption is Assumption.SUCCEEDS
            and state is BatchState.SPECULATING
            and carried is None
        ):
            carried = dependency.batch
        else:
            return None
    return carried


def carrying_entry(
    path_set: PathSet | None, carried: BatchID, state_of: rules.StateOf
) -> PathEntry | None:
    """The first passed entry that carries `carried`."""
    for entry in path_set.paths if path_set else ():
        if entry.status is PathStatus.PASSED and carried_by(entry.path, state_of) == carried:
            return entry
    return None


def marked_winner(path_set: PathSet | None, state_of: rules.StateOf) -> PathEntry | None:
    """The passed entry a merging head was chosen to land with, carrying a failed head (its
    `carries` mark), unless that head has since failed or been cancelled."""
    for entry in path_set.paths if path_set else ():
        if (
            entry.carries is not None
            and entry.status is PathStatus.PASSED
            and not rules.assumption_broken(entry.path, state_of)
        ):
            return entry
    return None


def _building(entry: PathEntry, head: BatchID) -> bool:
    """A build of the entry may still pass with `head` in its tree."""
    guesses_success = any(
        d.batch == head and d.assumption is Assumption.SUCCEEDS for d in entry.path.dependencies
    )
    return guesses_success and entry.status in (PathStatus.PENDING, PathStatus.BUILDING)


class Hold(enum.StrEnum):
    NONE = "none"  # nothing behind the head can carry it: it fails
    WAIT = "wait"  # a build behind it that may carry it is still running, or already landing it
    CARRY = "carry"  # `carrier` lands with the head inside its passing tree


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    hold: Hold
    carrier: BatchID | None = None
    winner: PathEntry | None = None


def pending_failure(
    head: BatchID,
    dependents: list[Batch],
    sets: Mapping[BatchID, PathSet],
    state_of: rules.StateOf,
    depth: int,
) -> Pending:
    """What to do with `head`, which has no viable future, given the first `depth` of its
    `dependents` (in queue order)."""
    waiting = False
    for dependent in dependents[:depth]:
        path_set = sets.get(dependent.id)
        state = state_of(dependent.id)
        if state is BatchState.MERGING:
            winner = marked_winner(path_set, state_of)
            if winner is not None and winner.carries == head:
                return Pending(hold=Hold.WAIT)
            continue
        if state is not BatchState.SPECULATING:
            continue
        if rules.mergeable_path(path_set, state_of) or rules.landing_path(path_set, state_of):
            continue  # it may land without the head: it does not carry it
        entry = carrying_entry(path_set, head, state_of)
        if entry is not None:
            marked = dataclasses.replace(entry, carries=head)
            return Pending(hold=Hold.CARRY, carrier=dependent.id, winner=marked)
        paths = path_set.paths if path_set is not None else ()
        # No path yet: admitted by this very run, whose speculator plans its builds (one may
        # guess the head succeeds) only after the verdicts. Failing the head now would make the
        # outcome depend on whether its last build ended in the same run or the one before.
        if not paths or any(_building(e, head) for e in paths):
            waiting = True
    return Pending(hold=Hold.WAIT if waiting else Hold.NONE)


def dependents_of(head: BatchID, in_flight: tuple[Batch, ...]) -> list[Batch]:
    return [b for b in in_flight if head in b.dependencies]
