"""Sticky allocator: fund the best unfunded candidates into free budget slots (spec §5)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.pathset import PathSet, PathStatus, is_path_terminal
from sq.submitqueue.entity.proposal import CandidatePath, PathAction, Speculation
from sq.submitqueue.extension.speculator import SpeculatorError


class StickyAllocator:
    """Fills the queue-wide build budget in rank order and never preempts.

    One slot per path, whatever its size. Non-terminal entries (pending, building, cancelling) hold
    a slot; terminal ones are never rebuilt and cost nothing. Candidates already funded, already
    finished, or repeated are skipped for free. It never proposes a cancel, and when no slot is
    free it does not pull the candidates at all.
    """

    def __init__(self, budget: int) -> None:
        if budget < 0:
            raise ValueError(f"build budget must not be negative, got {budget}")
        self.budget = budget

    def allocate(
        self, path_sets: Sequence[PathSet], candidates: Iterable[CandidatePath]
    ) -> list[Speculation]:
        """Build proposals for the best candidates that fit; SpeculatorError on a corrupt entry."""
        funded: set[PathID] = set()
        finished: set[PathID] = set()
        for path_set in path_sets:
            for entry in path_set.paths:
                if entry.status is PathStatus.UNKNOWN:
                    raise SpeculatorError(f"path {entry.id} of {path_set.head} has no status")
                (finished if is_path_terminal(entry.status) else funded).add(entry.id)
        free = self.budget - len(funded)
        proposals: list[Speculation] = []
        if free <= 0:
            return proposals
        stream: Iterator[CandidatePath] = iter(candidates)
        for candidate in stream:
            path_id = candidate.path.id
            if path_id in finished or path_id in funded:
                continue
            funded.add(path_id)
            proposals.append(
                Speculation(
                    path=candidate.path,
                    action=PathAction.BUILD,
                    ranking_score=candidate.ranking_score,
                )
            )
            free -= 1
            if free == 0:
                break
        return proposals
