"""The speculate run's one read: in-flight batches, their finalized dependencies, their path
sets with build observations folded in (speculation-spec §3.2)."""

from __future__ import annotations

from sq.submitqueue.core.speculation.fold import BuildLookup, fold_path_set
from sq.submitqueue.entity.batch import ACTIVE_STATES, BatchID
from sq.submitqueue.entity.build import Build
from sq.submitqueue.entity.pathset import PathAttempt, PathSet, is_path_terminal
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.orchestrator.storage import OrchestratorStorage


def read_snapshot(
    storage: OrchestratorStorage, queue: str, now_ms: int
) -> tuple[SpeculationSnapshot, frozenset[BatchID]]:
    """The snapshot and the heads whose sets changed by folding (they must be persisted)."""
    in_flight = storage.list_batches(queue, ACTIVE_STATES)
    known = {b.id for b in in_flight}
    missing = [d for b in in_flight for d in b.dependencies if d not in known]
    finalized = storage.get_batches(queue, missing)
    sets: list[PathSet] = []
    dirty: set[BatchID] = set()
    for batch in in_flight:
        path_set = storage.get_path_set(queue, batch.id)
        if path_set is None:
            continue
        lookup: dict[PathAttempt, Build | None] = {}
        for entry in path_set.paths:
            if is_path_terminal(entry.status):
                continue
            build_id = storage.linked_build(queue, entry.id, entry.attempt)
            if build_id is not None:
                lookup[entry.execution] = storage.get_build(queue, build_id)
        folded_lookup: BuildLookup = lookup
        path_set, changed = fold_path_set(path_set, folded_lookup, now_ms)
        if changed:
            dirty.add(batch.id)
        sets.append(path_set)
    batches = (*in_flight, *(finalized[d] for d in dict.fromkeys(missing) if d in finalized))
    return SpeculationSnapshot(batches=batches, path_sets=tuple(sets)), frozenset(dirty)
