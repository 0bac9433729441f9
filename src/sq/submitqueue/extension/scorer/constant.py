"""A scorer that believes the same thing about every batch."""

from __future__ import annotations

from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.extension.scorer import check_probability


class ConstantScorer:
    def __init__(self, probability: float) -> None:
        self._probability = check_probability(probability)

    def score(self, batch: Batch) -> float:
        return self._probability
