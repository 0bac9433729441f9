"""Everything conflicts: strict serialization, the default."""

from __future__ import annotations

from collections.abc import Sequence

from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.entity.conflict import Conflict, ConflictType


class AllConflictAnalyzer:
    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]:
        return [Conflict(batch_id=b.id, type=ConflictType.CONSERVATIVE) for b in in_flight]
