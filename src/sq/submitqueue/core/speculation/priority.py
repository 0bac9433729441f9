"""The priority lane: how a high batch goes ahead of earlier normal ones it conflicts with.

Dependencies point backwards and are fixed at creation, and the runway lands only the exact tree
that was built. So a high batch's dependency analysis keeps only the conflicting batches it must
follow: earlier high ones, and any already merging (those land first whatever it does). The
earlier normal batches it conflicts with are its `overtakes`: they may speculate and build, but
none of them merges while the high batch is in flight. When it has landed, their builds are on a
trunk without it: the runway answers OUTDATED and they are built again on the new trunk.
"""

from __future__ import annotations

from collections.abc import Sequence

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, Priority, is_terminal
from sq.submitqueue.entity.snapshot import SpeculationSnapshot


def split_conflicts(
    candidate: Batch, conflicting: Sequence[BatchID], in_flight: Sequence[Batch]
) -> tuple[tuple[BatchID, ...], tuple[BatchID, ...]]:
    """`(dependencies, overtakes)` of `candidate` from the in-flight batches it conflicts with.

    A normal batch depends on every one of them (the reference's rule) and overtakes none.
    """
    if candidate.priority is not Priority.HIGH:
        return tuple(conflicting), ()
    by_id = {b.id: b for b in in_flight}
    dependencies: list[BatchID] = []
    overtakes: list[BatchID] = []
    for batch_id in conflicting:
        other = by_id.get(batch_id)
        follows = (
            other is None
            or other.priority is Priority.HIGH
            or (other.state is not BatchState.SPECULATING and other.state is not BatchState.CREATED)
        )
        (dependencies if follows else overtakes).append(batch_id)
    return tuple(dependencies), tuple(overtakes)


def held_by(snapshot: SpeculationSnapshot, head: BatchID) -> BatchID | None:
    """The in-flight high batch that `head` must let land first, if any: one that overtakes it."""
    for batch in snapshot.batches:
        if head in batch.overtakes and not is_terminal(batch.state):
            return batch.id
    return None
