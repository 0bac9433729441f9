"""Nothing conflicts: every batch is built and landed independently of the others."""

from __future__ import annotations

from collections.abc import Sequence

from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.entity.conflict import Conflict


class NoneConflictAnalyzer:
    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]:
        return []
