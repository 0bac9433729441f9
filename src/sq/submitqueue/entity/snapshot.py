"""One speculate run's view of a queue: what the rules and the Speculator decide from."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from sq.submitqueue.entity.batch import ACTIVE_STATES, Batch, BatchID, BatchState
from sq.submitqueue.entity.finished import Finished
from sq.submitqueue.entity.pathset import PathSet


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeculationSnapshot:
    """Batches and path sets read once at the start of a run, never re-read mid-run.

    `batches` holds the queue's in-flight batches (listing order) and the finalized dependencies
    they name; ids are unique. `path_sets` holds the sets of in-flight heads that have one, in
    in-flight order. A dependency missing from the snapshot has state `UNKNOWN`.
    """

    batches: tuple[Batch, ...]
    path_sets: tuple[PathSet, ...] = ()
    funds_new_work: bool = True
    """False while an operator has paused the queue: no new path is funded or dispatched."""
    _batch_index: Mapping[BatchID, Batch] = field(init=False, repr=False, compare=False)
    _set_index: Mapping[BatchID, PathSet] = field(init=False, repr=False, compare=False)
    _state_index: Mapping[BatchID, BatchState] = field(init=False, repr=False, compare=False)
    _finished: Finished | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_batch_index", {b.id: b for b in self.batches})
        # The verdict rules ask a state for every dependency of every path of every head: with
        # hundreds of heads in flight, about a million calls a run.
        object.__setattr__(self, "_state_index", {b.id: b.state for b in self.batches})
        object.__setattr__(self, "_set_index", {s.head: s for s in self.path_sets})
        object.__setattr__(self, "_finished", None)

    def batch(self, batch_id: BatchID) -> Batch | None:
        return self._batch_index.get(batch_id)

    def state_of(self, batch_id: BatchID) -> BatchState:
        return self._state_index.get(batch_id, BatchState.UNKNOWN)

    @property
    def finished(self) -> Finished:
        """The finished batches as sets (built on first use)."""
        finished = self._finished
        if finished is None:
            finished = Finished.of(self._state_index)
            object.__setattr__(self, "_finished", finished)
        return finished

    def path_set(self, head: BatchID) -> PathSet | None:
        return self._set_index.get(head)

    @property
    def in_flight(self) -> tuple[Batch, ...]:
        return tuple(b for b in self.batches if b.state in ACTIVE_STATES)

    def with_state(self, batch_id: BatchID, state: BatchState) -> SpeculationSnapshot:
        batches = tuple(
            dataclasses.replace(b, state=state) if b.id == batch_id else b for b in self.batches
        )
        return dataclasses.replace(self, batches=batches)

    def with_path_sets(self, path_sets: Mapping[BatchID, PathSet]) -> SpeculationSnapshot:
        """A copy whose sets are replaced (or added, in in-flight order) from `path_sets`."""
        merged = {s.head: s for s in self.path_sets} | dict(path_sets)
        heads = [b.id for b in self.in_flight if b.id in merged]
        placed = set(heads)
        heads += [h for h in merged if h not in placed]
        return dataclasses.replace(self, path_sets=tuple(merged[h] for h in heads))
