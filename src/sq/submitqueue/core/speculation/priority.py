"""The priority lane: how a high batch goes ahead of earlier normal ones it conflicts with.

Dependencies point backwards and are fixed at creation, and the runway lands only the exact tree
that was built. So a high batch's dependency analysis keeps only the conflicting batches it must
follow: earlier high ones, and any already merging (those land first whatever it does). The
earlier normal batches it conflicts with are its `overtakes`: they may speculate and build, but
none of them merges while the high batch is in flight. When it has landed, their builds are on a
trunk without it: the runway answers OUTDATED and they are built again on the new trunk.

The parts of a split failed batch go ahead the same way (`place_of_part`): they follow what the
failed batch was behind and overtake the later batches they conflict with (doc/batching-queue.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, Priority, is_terminal
from sq.submitqueue.entity.snapshot import SpeculationSnapshot


def split_conflicts(
    candidate: Batch, conflicting: Sequence[BatchID], in_flight: Sequence[Batch]
) -> tuple[tuple[BatchID, ...], tuple[BatchID, ...]]:
    """`(dependencies, overtakes)` of `candidate` from the in-flight batches it conflicts with.

    A normal batch depends on every one of them (the reference's rule) and overtakes none. A
    split's part (`candidate.place` set) depends on the ones its failed batch was behind and
    overtakes the rest, whatever its lane: it takes the failed batch's place in the queue.
    """
    if candidate.place is not None:
        ahead = _followed(candidate.place, in_flight)
        return _partition(conflicting, in_flight, lambda other: other.id in ahead)
    if candidate.priority is not Priority.HIGH:
        return tuple(conflicting), ()
    return _partition(conflicting, in_flight, lambda other: other.priority is Priority.HIGH)


def _partition(
    conflicting: Sequence[BatchID], in_flight: Sequence[Batch], leads: Callable[[Batch], bool]
) -> tuple[tuple[BatchID, ...], tuple[BatchID, ...]]:
    """Depend on the conflicting batches that `lead` and on any already merging (those land
    first whatever the candidate does); overtake the others."""
    by_id = {b.id: b for b in in_flight}
    dependencies: list[BatchID] = []
    overtakes: list[BatchID] = []
    for batch_id in conflicting:
        other = by_id.get(batch_id)
        follows = (
            other is None
            or leads(other)
            or (other.state is not BatchState.SPECULATING and other.state is not BatchState.CREATED)
        )
        (dependencies if follows else overtakes).append(batch_id)
    return tuple(dependencies), tuple(overtakes)


def _followed(place: Sequence[BatchID], in_flight: Sequence[Batch]) -> frozenset[BatchID]:
    """`place` and, transitively, what its batches in flight depend on: a part never overtakes a
    batch that one it follows waits for (that would hold each behind the other)."""
    by_id = {b.id: b for b in in_flight}
    seen: set[BatchID] = set()
    todo = list(place)
    while todo:
        batch_id = todo.pop()
        if batch_id in seen:
            continue
        seen.add(batch_id)
        if (batch := by_id.get(batch_id)) is not None:
            todo.extend(batch.dependencies)
    return frozenset(seen)


def place_of_part(
    failed: Batch, in_flight: Sequence[Batch], earlier: Sequence[BatchID]
) -> tuple[BatchID, ...]:
    """What a part of the split of `failed` follows: the batches `failed` was behind (its
    dependencies, and those that overtook it) and the parts cut before this one."""
    overtook = (b.id for b in in_flight if failed.id in b.overtakes)
    return (*failed.dependencies, *overtook, *earlier)


def held_by(snapshot: SpeculationSnapshot, head: BatchID) -> BatchID | None:
    """The in-flight high batch that `head` must let land first, if any: one that overtakes it."""
    for batch in snapshot.batches:
        if head in batch.overtakes and not is_terminal(batch.state):
            return batch.id
    return None
