"""The ConflictAnalyzer seam: which in-flight batches a new batch serializes behind (spec §2.3)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sq.platform.errs import RetryableError
from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.entity.conflict import Conflict


class ConflictAnalyzerError(RetryableError):
    """The analyzer could not tell (e.g. a batch's changed files could not be resolved); the
    dependency-analysis stage retries later."""


class ConflictAnalyzer(Protocol):
    """Finds the in-flight batches `candidate` conflicts with.

    Contract: returns conflicts in the order of `in_flight` (the caller keeps the first occurrence
    of each batch id, so a batch may appear more than once with different types). An empty
    `in_flight` gives no conflicts. The candidate itself is never in `in_flight` (it is still
    `creating`). May block on change resolution; raises `ConflictAnalyzerError` when it cannot
    decide. Never mutates its arguments.
    """

    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]: ...
