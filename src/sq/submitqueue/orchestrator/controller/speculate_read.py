"""The speculate run's one read: in-flight batches, their finalized dependencies, their path
sets with build observations folded in (speculation-spec §3.2)."""

from __future__ import annotations

from dataclasses import dataclass

from sq.submitqueue.core.speculation.fold import flaky_retried, fold_path_set
from sq.submitqueue.entity.batch import BatchID, BatchState
from sq.submitqueue.entity.control import starts_new_work
from sq.submitqueue.entity.pathset import PathEntry, PathSet
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.orchestrator.storage import OrchestratorStorage


@dataclass(frozen=True, slots=True, kw_only=True)
class Retry:
    """A failed build retried as flaky: its head and the entry's new attempt."""

    head: BatchID
    entry: PathEntry


@dataclass(frozen=True, slots=True, kw_only=True)
class SnapshotRead:
    snapshot: SpeculationSnapshot
    dirty: frozenset[BatchID]
    """Heads whose sets changed by folding (they must be persisted)."""
    retries: tuple[Retry, ...] = ()


def read_snapshot(
    storage: OrchestratorStorage, queue: str, now_ms: int, flaky_retries: int = 0
) -> SnapshotRead:
    """The snapshot with build observations folded in, what changed, and the flaky retries."""
    rows = storage.read_queue(queue)
    sets: list[PathSet] = []
    dirty: set[BatchID] = set()
    retries: list[Retry] = []
    for batch in rows.in_flight:
        stored = rows.path_sets.get(batch.id)
        if stored is None:
            continue
        path_set, changed = fold_path_set(
            stored,
            rows.builds,
            now_ms,
            flaky_retries=flaky_retries,
            halted=batch.state is BatchState.CANCELLING,
        )
        if changed:
            dirty.add(batch.id)
            retries.extend(Retry(head=batch.id, entry=e) for e in flaky_retried(stored, path_set))
        sets.append(path_set)
    batches = (*rows.in_flight, *rows.finalized)
    return SnapshotRead(
        snapshot=SpeculationSnapshot(
            batches=batches,
            path_sets=tuple(sets),
            funds_new_work=starts_new_work(rows.control.mode),
        ),
        dirty=frozenset(dirty),
        retries=tuple(retries),
    )
