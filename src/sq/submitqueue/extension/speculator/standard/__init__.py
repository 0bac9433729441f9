"""The standard Speculator: best-first ranking funded by the sticky allocator."""

from __future__ import annotations

from sq.submitqueue.entity.budget import DEFAULT_BUILD_BUDGET
from sq.submitqueue.entity.proposal import Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.speculator.standard.allocator import StickyAllocator
from sq.submitqueue.extension.speculator.standard.generator import (
    DEFAULT_PROBABILITY,
    BestFirstGenerator,
    CandidateStream,
)

__all__ = [
    "DEFAULT_BUILD_BUDGET",
    "DEFAULT_PROBABILITY",
    "BestFirstGenerator",
    "CandidateStream",
    "StandardSpeculator",
    "StickyAllocator",
]


class StandardSpeculator:
    """`sticky(budget).allocate(sets, bestfirst(scorer).generate(batches))`.

    `budget` is the number of builds the whole queue may hold at once (pending, building and
    cancelling paths of every head count). A generator error propagates and nothing is allocated.
    """

    def __init__(
        self,
        scorer: Scorer,
        budget: int = DEFAULT_BUILD_BUDGET,
        *,
        default_probability: float = DEFAULT_PROBABILITY,
    ) -> None:
        self.generator = BestFirstGenerator(scorer, default_probability=default_probability)
        self.allocator = StickyAllocator(budget)

    def speculate(self, snapshot: SpeculationSnapshot) -> list[Speculation]:
        candidates = self.generator.generate(snapshot.batches)
        return self.allocator.allocate(snapshot.path_sets, candidates)
