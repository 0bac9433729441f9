"""The speculate run's one read: in-flight batches, their finalized dependencies, their path
sets with build observations folded in (speculation-spec §3.2)."""

from __future__ import annotations

from sq.submitqueue.core.speculation.fold import fold_path_set
from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.entity.control import starts_new_work
from sq.submitqueue.entity.pathset import PathSet
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.orchestrator.storage import OrchestratorStorage


def read_snapshot(
    storage: OrchestratorStorage, queue: str, now_ms: int
) -> tuple[SpeculationSnapshot, frozenset[BatchID]]:
    """The snapshot and the heads whose sets changed by folding (they must be persisted)."""
    rows = storage.read_queue(queue)
    sets: list[PathSet] = []
    dirty: set[BatchID] = set()
    for batch in rows.in_flight:
        path_set = rows.path_sets.get(batch.id)
        if path_set is None:
            continue
        path_set, changed = fold_path_set(path_set, rows.builds, now_ms)
        if changed:
            dirty.add(batch.id)
        sets.append(path_set)
    batches = (*rows.in_flight, *rows.finalized)
    snapshot = SpeculationSnapshot(
        batches=batches,
        path_sets=tuple(sets),
        funds_new_work=starts_new_work(rows.control.mode),
    )
    return snapshot, frozenset(dirty)
