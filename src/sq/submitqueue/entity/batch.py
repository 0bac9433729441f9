"""Batches: the unit the queue speculates on, lands and fails (speculation-spec §1.1-1.2)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NewType

BatchID = NewType("BatchID", str)
RequestID = NewType("RequestID", str)


class Priority(enum.StrEnum):
    """A request's lane: `high` goes ahead of `normal` in speculation and landing order."""

    NORMAL = "normal"
    HIGH = "high"


class BatchState(enum.StrEnum):
    UNKNOWN = ""  # never valid; the state of a batch a snapshot does not hold
    CREATING = "creating"
    CREATED = "created"
    SPECULATING = "speculating"
    MERGING = "merging"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


TERMINAL_STATES = frozenset({BatchState.SUCCEEDED, BatchState.FAILED, BatchState.CANCELLED})
NOT_LANDED_STATES = frozenset({BatchState.FAILED, BatchState.CANCELLED})
"""Finished without landing: a path assuming the batch fails has come true on it."""
ACTIVE_STATES = (
    BatchState.CREATED,
    BatchState.SPECULATING,
    BatchState.MERGING,
    BatchState.CANCELLING,
)
"""What a speculate run lists as in flight, in this order."""
DEPENDENCY_STATES = (BatchState.CREATED, BatchState.SPECULATING, BatchState.MERGING)
"""What a new batch may depend on (a cancelling batch is on its way out)."""
ALL_STATES = tuple(s for s in BatchState if s is not BatchState.UNKNOWN)
"""Every valid state, in lifecycle order."""

_NOT_CANCELLABLE = frozenset(
    {BatchState.UNKNOWN, BatchState.CREATING, BatchState.MERGING} | TERMINAL_STATES
)


def is_terminal(state: BatchState) -> bool:
    return state in TERMINAL_STATES


def is_halted(state: BatchState) -> bool:
    """Terminal or cancelling: forward-progress stages start no new work for it."""
    return state in TERMINAL_STATES or state is BatchState.CANCELLING


def is_cancellable(state: BatchState) -> bool:
    return state not in _NOT_CANCELLABLE


_TRANSITIONS: frozenset[tuple[BatchState, BatchState]] = frozenset(
    {
        (BatchState.CREATING, BatchState.CREATED),  # dependency analysis
        (BatchState.CREATED, BatchState.SPECULATING),  # speculate: admit
        (BatchState.SPECULATING, BatchState.MERGING),  # speculate: mergeable passed path
        (BatchState.MERGING, BatchState.SPECULATING),  # mergesignal: outdated, build again
        (BatchState.CREATED, BatchState.CANCELLING),  # cancel
        (BatchState.SPECULATING, BatchState.CANCELLING),  # cancel
        (BatchState.CANCELLING, BatchState.CANCELLED),  # speculate: every path stopped
        (BatchState.CREATING, BatchState.CANCELLED),  # dependency analysis: every request ended
    }
)


def can_transition_batch(old: BatchState, new: BatchState) -> bool:
    """Whether some stage may move a batch from `old` to `new` (§1.2).

    Besides the table above: any non-terminal state may fail (speculate's no-viable-future verdict,
    mergesignal, or a DLQ reconciler), and mergesignal records `succeeded` for any non-terminal,
    non-cancelling batch, because the landing already happened and must not be lost.
    """
    if old is BatchState.UNKNOWN or new is BatchState.UNKNOWN or is_terminal(old):
        return False
    if new is BatchState.FAILED:
        return True
    if new is BatchState.SUCCEEDED:
        return old is not BatchState.CANCELLING
    return (old, new) in _TRANSITIONS


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """A set of requests that speculate, land and fail together.

    `dependencies` is empty while `creating` and fixed from `created` on; its order is the queue
    order every path of this head lists its assumptions in. `version` is the compare-and-swap
    version, 1 on creation.

    A `high` batch depends only on earlier high batches (and on ones already merging); the
    earlier normal batches it conflicts with are its `overtakes`, fixed with its dependencies:
    they do not merge while it is in flight (core/speculation/priority.py).
    """

    id: BatchID
    queue: str
    contains: tuple[RequestID, ...] = ()
    dependencies: tuple[BatchID, ...] = ()
    state: BatchState = BatchState.CREATING
    version: int = 1
    priority: Priority = Priority.NORMAL
    overtakes: tuple[BatchID, ...] = ()

    @property
    def lane(self) -> int:
        """A sort key for speculation order: high batches rank before normal ones."""
        return 0 if self.priority is Priority.HIGH else 1


def batch_id(queue: str, counter: int) -> BatchID:
    return BatchID(f"{queue}/batch/{counter}")
