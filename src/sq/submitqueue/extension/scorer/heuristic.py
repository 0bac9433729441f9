"""Diff-size buckets: small changes land more often (speculation-spec §4.3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.extension.scorer import ScorerError, check_probability

MAX_LINES = 2**31 - 1


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    """Batches whose size lies in `[min, max]` (both inclusive) score `score`."""

    min: int
    max: int
    score: float

    def __post_init__(self) -> None:
        if self.min > self.max:
            raise ValueError(f"bucket min {self.min} is greater than max {self.max}")
        check_probability(self.score, "bucket score")


FLAT_BUCKETS = (Bucket(min=0, max=MAX_LINES, score=0.5),)
"""The reference's default: every batch is a coin toss."""

EXAMPLE_BUCKETS = (
    Bucket(min=0, max=1, score=0.95),
    Bucket(min=2, max=5, score=0.80),
    Bucket(min=6, max=20, score=0.60),
    Bucket(min=21, max=MAX_LINES, score=0.40),
)


class HeuristicScorer:
    """Scores a batch by the first configured bucket containing its size.

    `size_of` measures a batch, by default in total lines changed (added + deleted + modified over
    every file of every change); it may block and may raise. No bucket matching is a `ScorerError`.
    """

    def __init__(self, buckets: Sequence[Bucket], size_of: Callable[[Batch], int]) -> None:
        if not buckets:
            raise ValueError("a heuristic scorer needs at least one bucket")
        self._buckets = tuple(buckets)
        self._size_of = size_of

    def score(self, batch: Batch) -> float:
        try:
            size = self._size_of(batch)
        except Exception as exc:
            raise ScorerError(f"cannot measure {batch.id}: {exc}") from exc
        for bucket in self._buckets:
            if bucket.min <= size <= bucket.max:
                return bucket.score
        raise ScorerError(f"no bucket holds size {size} of {batch.id}")
