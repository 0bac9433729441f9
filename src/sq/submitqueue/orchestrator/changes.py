"""What a batch changes, read from the change details its requests claimed (blocking).

Conflict analyzers want its files, the heuristic scorer its size, and the history scorer a
description: author, top-level areas and size.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from sq.submitqueue.entity.batch import Batch, BatchID, RequestID
from sq.submitqueue.entity.request import ChangeInfo
from sq.submitqueue.extension.scorer.outcomes import BatchFeatures, top_level_area
from sq.submitqueue.orchestrator.storage import OrchestratorStorage

CACHED_BATCHES = 20_000
"""Batches whose change details are kept in memory: a speculate run scores every open dependency,
and claimed details never change once every request of the batch has claimed its changes."""


class BatchChanges:
    def __init__(self, storage: OrchestratorStorage, cached: int = CACHED_BATCHES) -> None:
        self._storage = storage
        self._cached = cached
        self._cache: OrderedDict[tuple[str, BatchID, tuple[RequestID, ...]], list[ChangeInfo]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def files(self, batch: Batch) -> list[str]:
        return [f.path for info in self._infos(batch) for f in info.files]

    def lines(self, batch: Batch) -> int:
        return sum(info.lines_changed for info in self._infos(batch))

    def features(self, batch: Batch) -> BatchFeatures:
        infos = self._infos(batch)
        authors = [info.author for info in infos if info.author]
        return BatchFeatures(
            author=authors[0] if authors else None,
            areas=frozenset(top_level_area(f.path) for info in infos for f in info.files),
            lines_changed=sum(info.lines_changed for info in infos),
        )

    def _infos(self, batch: Batch) -> list[ChangeInfo]:
        # Keyed by the members too: a waiting request is scored as a one-request batch under a
        # placeholder id (`batch.member_probability`), the same for every request.
        key = (batch.queue, batch.id, batch.contains)
        with self._lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        infos = self._storage.claimed_changes(batch.queue, batch.contains)
        if infos is None:  # not every request has claimed its changes yet: read again next time
            return self._slow_infos(batch)
        with self._lock:
            self._cache[key] = infos
            if len(self._cache) > self._cached:
                self._cache.popitem(last=False)
        return infos

    def _slow_infos(self, batch: Batch) -> list[ChangeInfo]:
        infos: list[ChangeInfo] = []
        for request_id in batch.contains:
            request = self._storage.get_request(batch.queue, request_id)
            if request is not None:
                infos += self._storage.changes_of(request)
        return infos
