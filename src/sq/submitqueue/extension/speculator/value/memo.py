"""Per-head figures a value run reuses from the run before, while the head's inputs are unchanged.

A head's figures (its live builds' probabilities, whether it holds a likely passed path, its
candidates) depend on its path set, its dependency list and, for each dependency, only the
assumption a finished one forces or the landing probability of an open one (`Term`); its
candidates also on its worth, cost share and live probability. At saturation most heads keep all
of these from one run to the next, so most heads' figures are not computed again: each run, the
heads any of whose dependencies' terms moved are forgotten, and a figure is reused only for the
very path set (or an equal one) and the same scalars it was computed with.

A dependency whose probability the run reads lazily (a state `landing_probabilities` does not
cover, or one the snapshot lacks) is not tracked: a head with one is never remembered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sq.submitqueue.entity.batch import ACTIVE_STATES, TERMINAL_STATES, Batch, BatchID
from sq.submitqueue.entity.path import Assumption, PathID, SpeculationPath
from sq.submitqueue.entity.pathset import PathSet
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator.standard.generator import (
    RESOLVED_ASSUMPTION,
    DependencyTerm,
    Flips,
    HeadStream,
)
from sq.submitqueue.extension.speculator.value.rank import StoredStatuses, Valued

Term = tuple[Assumption | None, float]
"""What a head's figures read of one dependency: its forced assumption, and its probability."""
_TRACKED_STATES = TERMINAL_STATES | frozenset(ACTIVE_STATES)
"""The states `evidence.landing_probabilities` gives a probability for, before the run reads."""

CandidateKey = tuple[float, float, float]
"""A head's worth, cost share and live probability: what its candidates read besides its set."""


@dataclass(slots=True, kw_only=True)
class HeadFigures:
    path_set: PathSet | None
    dependencies: tuple[BatchID, ...]
    live_p: tuple[tuple[PathID, float], ...]
    """Each live build's path probability, in entry order."""
    live: float
    """Their sum (a head's paths are exclusive futures)."""
    likely_pass: bool
    """A passed path, not contradicted, at least `LIKELY` to be the one that lands."""
    candidates: tuple[CandidateKey, tuple[Valued, ...]] | None = None
    stored: StoredStatuses | None = None
    """`rank.stored_statuses` of `path_set`."""
    stream: ReplayedStream | None = None
    """The head's stream as far as a run has walked it."""


class ReplayedStream:
    """A head's stream that keeps the paths, scores and order it has produced, so that a later
    run with the same terms walks it again (`replay`) without building a path twice. A stream's
    order and paths depend only on the head and its dependencies' terms."""

    def __init__(self, stream: HeadStream) -> None:
        self._stream = stream
        self._order: list[Flips | None] = []
        self._paths: dict[Flips, SpeculationPath] = {}
        self._scores: dict[Flips, float] = {}
        self._lock = threading.Lock()  # overlapping runs may extend one stream

    def replay(self) -> _Cursor:
        return _Cursor(self)

    def path(self, flips: Flips) -> SpeculationPath:
        path = self._paths.get(flips)
        if path is None:
            path = self._paths[flips] = self._stream.build(flips)
        return path

    def score(self, flips: Flips) -> float:
        score = self._scores.get(flips)
        if score is None:
            score = self._scores[flips] = self._stream.score(flips)
        return score

    def advanced(self, at: int) -> Flips | None:
        """What the stream's `at`-th advance returned."""
        order = self._order
        if at >= len(order):
            with self._lock:
                while at >= len(order):
                    order.append(self._stream.advance())
        return order[at]


class _Cursor:
    """One walk over a replayed stream, from its best path (`rank.PathStream`)."""

    def __init__(self, replayed: ReplayedStream) -> None:
        self._replayed = replayed
        self._at = 0

    def build(self, flips: Flips) -> SpeculationPath:
        return self._replayed.path(flips)

    def score(self, flips: Flips) -> float:
        return self._replayed.score(flips)

    def advance(self) -> Flips | None:
        flips = self._replayed.advanced(self._at)
        self._at += 1
        return flips


@dataclass(frozen=True, slots=True, kw_only=True)
class _Published:
    terms: dict[BatchID, Term]
    heads: dict[BatchID, HeadFigures]
    dependency_terms: dict[BatchID, DependencyTerm]
    settings: object


class HeadMemo:
    """The figures of the heads of the last run that finished, valid for that run's terms.

    A run works on its own `RunFigures` and publishes them, when it is done, in one assignment:
    runs of one speculator that overlap (the orchestrator calls it from worker threads) each read
    one finished run's figures whole, and the last to finish is the one remembered.
    """

    def __init__(self) -> None:
        self._last: _Published | None = None

    def start(
        self,
        snapshot: SpeculationSnapshot,
        p: Mapping[BatchID, float],
        heads: Sequence[Batch],
        settings: object,
    ) -> RunFigures:
        """The figures this run may reuse: the last run's, less every head any of whose
        dependencies' terms moved since. `p` must hold, at least, the probability of every batch
        in a tracked state (what `landing_probabilities` returns)."""
        terms = {
            b.id: (RESOLVED_ASSUMPTION.get(b.state), p[b.id])
            for b in snapshot.batches
            if b.state in _TRACKED_STATES
        }
        last = self._last
        kept: dict[BatchID, HeadFigures] = {}
        carried: dict[BatchID, DependencyTerm] = {}
        if last is not None and last.settings is settings:
            old = last.terms
            changed = {b for b, term in terms.items() if old.get(b) != term}
            changed.update(old.keys() - terms.keys())
            for head in heads:
                figures = last.heads.get(head.id)
                if (
                    figures is not None
                    and figures.dependencies == head.dependencies
                    and changed.isdisjoint(head.dependencies)
                ):
                    kept[head.id] = figures
            carried = {
                d: part
                for d, part in last.dependency_terms.items()
                if d in terms and d not in changed
            }
        state = _Published(terms=terms, heads=kept, dependency_terms=carried, settings=settings)
        return RunFigures(self, state)


class RunFigures:
    """One run's view of the memo: what it may reuse, and what it computed."""

    def __init__(self, memo: HeadMemo, state: _Published) -> None:
        self._memo = memo
        self._state = state
        self.dependency_terms = state.dependency_terms
        """The run's memo of each dependency's part in a head's stream (`memoised_term`), started
        with the last run's parts of the tracked dependencies whose terms did not move."""

    def figures(self, head: Batch, path_set: PathSet | None) -> HeadFigures | None:
        """The head's remembered figures, if they were computed for this path set."""
        figures = self._state.heads.get(head.id)
        if figures is None:
            return None
        if figures.path_set is not path_set and figures.path_set != path_set:
            return None
        return figures

    def remember(self, head: Batch, figures: HeadFigures) -> None:
        heads = self._state.heads
        if _all_in(head.dependencies, self._state.terms):
            heads[head.id] = figures
        else:
            heads.pop(head.id, None)

    def publish(self) -> None:
        """The figures this run holds are what the next run starts from."""
        self._memo._last = self._state  # one assignment: no tear


def _all_in(dependencies: Iterable[BatchID], terms: Mapping[BatchID, Term]) -> bool:
    return all(d in terms for d in dependencies)
