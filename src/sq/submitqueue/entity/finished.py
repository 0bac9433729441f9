"""The finished batches of one snapshot as sets, so that a path is checked against them in C.

A speculate run asks, for every path of every open head, whether a finished dependency broke one
of its assumptions or whether all of them came true. With hundreds of heads that each depend on
every head ahead (the `all` analyzer) a state look-up per dependency was most of finalize. With
the path's dependencies split by assumption once (`SpeculationPath.split`), each question is a
set operation instead. Every answer equals the per-dependency rule's (`core.speculation.rules`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from sq.submitqueue.entity.batch import NOT_LANDED_STATES, BatchID, BatchState
from sq.submitqueue.entity.path import SpeculationPath


@dataclass(frozen=True, slots=True, kw_only=True)
class Finished:
    succeeded: frozenset[BatchID]
    failed: frozenset[BatchID]
    """Failed or cancelled."""
    either: frozenset[BatchID]
    """`succeeded` | `failed`."""

    @classmethod
    def of(cls, states: Mapping[BatchID, BatchState]) -> Finished:
        succeeded = frozenset(b for b, s in states.items() if s is BatchState.SUCCEEDED)
        failed = frozenset(b for b, s in states.items() if s in NOT_LANDED_STATES)
        return cls(succeeded=succeeded, failed=failed, either=succeeded | failed)

    def with_state(self, batch: BatchID, state: BatchState) -> Finished:
        """After `batch` moved to `state` (from an unfinished one)."""
        either = self.either | {batch}
        if state is BatchState.SUCCEEDED:
            return Finished(succeeded=self.succeeded | {batch}, failed=self.failed, either=either)
        if state in NOT_LANDED_STATES:
            return Finished(succeeded=self.succeeded, failed=self.failed | {batch}, either=either)
        return self

    def all_finished(self, batches: Iterable[BatchID]) -> bool:
        return self.either.issuperset(batches)

    def contradicts(self, path: SpeculationPath) -> bool:
        """A finished dependency broke one of the path's assumptions."""
        split = path.split()
        return not (
            split.succeeds.isdisjoint(self.failed) and split.fails.isdisjoint(self.succeeded)
        )

    def came_true(self, path: SpeculationPath) -> bool:
        """Every assumption of the path has come true."""
        split = path.split()
        return (
            not split.undecided and split.succeeds <= self.succeeded and split.fails <= self.failed
        )


class IndexedStates:
    """A `state_of` callable that also carries its finished batches as a `Finished` index.

    The caller keeps both in step: `finished` must hold exactly the batches `state_of` reports as
    succeeded, failed or cancelled.
    """

    __slots__ = ("_state_of", "finished")

    def __init__(self, state_of: Callable[[BatchID], BatchState], finished: Finished) -> None:
        self._state_of = state_of
        self.finished = finished

    def __call__(self, batch: BatchID) -> BatchState:
        return self._state_of(batch)
