"""Best-first generator: every head's paths, most likely first, enumerated lazily (spec §4).

Each head's paths are the subsets of its unresolved dependencies whose preferred assumption is
flipped. Per head, a local heap walks those subsets in score order with the extend/swap rule (each
subset has one parent and never outranks it); a global heap merges the heads. Only pulled work is
done, so a head with 60 unresolved dependencies costs a handful of heap operations per pull.
"""

from __future__ import annotations

import heapq
import logging
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, PathDependency, SpeculationPath
from sq.submitqueue.entity.proposal import CandidatePath
from sq.submitqueue.extension.scorer import Scorer

DEFAULT_PROBABILITY = 0.95
"""Used for a dependency the snapshot lacks or the scorer cannot score: deliberately optimistic."""

_log = logging.getLogger(__name__)

RESOLVED_ASSUMPTION = {
    BatchState.SUCCEEDED: Assumption.SUCCEEDS,
    BatchState.FAILED: Assumption.FAILS,
    BatchState.CANCELLED: Assumption.FAILS,
}
"""The assumption a finished dependency forces; every other state leaves it open."""

Flips = tuple[int, ...]


def _ln(value: float) -> float:
    return math.log(value) if value > 0.0 else -math.inf


@dataclass(frozen=True, slots=True)
class _Variable:
    dependency_index: int
    flip_cost: float  # log(opposite) - log(preferred): always <= 0, -inf when impossible


class _HeadStream:
    """The paths of one head in score order. A path is named by its flips: ascending indexes into
    the variables, which are sorted cheapest-first on the first advance."""

    def __init__(
        self,
        head: BatchID,
        base: list[PathDependency],
        variables: list[_Variable],
        best: float,
        lane: int = 1,
    ) -> None:
        self.head = head
        self.lane = lane  # every path of a lower lane (a high-priority head) ranks first
        self.best_score = best
        self._base = base
        self._variables = variables
        self._heap: list[tuple[float, int, Flips]] | None = None
        self.materialized = 0

    def score(self, flips: Flips) -> float:
        # Recomputed from scratch in ascending index order, never from a parent, so that paths of
        # equal probability tie exactly.
        total = self.best_score
        for k in flips:
            total += self._variables[k].flip_cost
        return total

    def _push(self, heap: list[tuple[float, int, Flips]], flips: Flips) -> None:
        self.materialized += 1
        heapq.heappush(heap, (-self.score(flips), len(flips), flips))

    def advance(self) -> Flips | None:
        """The best subset not yet returned, or None when the head is exhausted."""
        heap = self._heap
        if heap is None:
            self._variables.sort(key=lambda v: (-v.flip_cost, v.dependency_index))
            heap = self._heap = []
            if self._variables:
                self._push(heap, (0,))
        if not heap:
            return None
        _, _, flips = heapq.heappop(heap)
        last = flips[-1]
        if last + 1 < len(self._variables):
            self._push(heap, (*flips, last + 1))  # extend: flip the next variable too
            self._push(heap, (*flips[:-1], last + 1))  # swap: trade the last flip for the next
        return flips

    def build(self, flips: Flips) -> SpeculationPath:
        dependencies = list(self._base)
        for k in flips:
            i = self._variables[k].dependency_index
            old = dependencies[i]
            other = (
                Assumption.FAILS if old.assumption is Assumption.SUCCEEDS else Assumption.SUCCEEDS
            )
            dependencies[i] = PathDependency(batch=old.batch, assumption=other)
        return SpeculationPath(head=self.head, dependencies=tuple(dependencies))


class CandidateStream(Iterator[CandidatePath]):
    """Candidates of every head, best first: high-priority heads' paths, then higher score, then
    fewer flips, then head id."""

    def __init__(self, streams: list[_HeadStream]) -> None:
        self._streams = streams
        self._heap: list[tuple[int, float, int, BatchID, int, Flips]] = [
            (s.lane, -s.best_score, 0, s.head, i, ()) for i, s in enumerate(streams)
        ]
        heapq.heapify(self._heap)

    @property
    def materialized(self) -> int:
        """How many flip subsets have been built so far, over all heads (for tests and benches)."""
        return sum(s.materialized for s in self._streams)

    def __next__(self) -> CandidatePath:
        if not self._heap:
            raise StopIteration
        lane, negative_score, _, head, index, flips = heapq.heappop(self._heap)
        stream = self._streams[index]
        following = stream.advance()
        if following is not None:
            item = (lane, -stream.score(following), len(following), head, index, following)
            heapq.heappush(self._heap, item)
        return CandidatePath(path=stream.build(flips), ranking_score=-negative_score)


class BestFirstGenerator:
    """Ranks every head's paths by the log-probability that their open assumptions hold.

    Heads are the `speculating` batches; every other batch is a fact. Finished dependencies are
    pinned to the assumption their outcome forces; open ones are scored once per call (sorted by
    id), treated as independent, and defaulted to `default_probability` when absent from the
    snapshot, when the scorer fails, or when the score lies outside [0, 1].
    Preconditions (not checked): unique ids, no empty, duplicate or self dependency.
    """

    def __init__(self, scorer: Scorer, *, default_probability: float = DEFAULT_PROBABILITY) -> None:
        self._scorer = scorer
        self._default = default_probability

    def generate(self, batches: Sequence[Batch]) -> CandidateStream:
        by_id = {b.id: b for b in batches}
        heads = [b for b in batches if b.state is BatchState.SPECULATING]
        probabilities = self._probabilities(heads, by_id)
        terms: dict[BatchID, DependencyTerm] = {}
        streams = [self._stream(head, by_id, probabilities, terms) for head in heads]
        return CandidateStream(streams)

    def _probabilities(
        self, heads: list[Batch], by_id: Mapping[BatchID, Batch]
    ) -> dict[BatchID, float]:
        open_ids = {
            d
            for head in heads
            for d in head.dependencies
            if _state(by_id, d) not in RESOLVED_ASSUMPTION
        }
        return {d: self._probability(by_id.get(d)) for d in sorted(open_ids)}

    def _probability(self, batch: Batch | None) -> float:
        if batch is None:
            return self._default
        try:
            p = self._scorer.score(batch)
        except Exception:  # noqa: BLE001  (any scoring failure degrades ranking, never stops it)
            _log.warning("scorer failed for %s; using the default probability", batch.id)
            return self._default
        return p if 0.0 <= p <= 1.0 else self._default

    def _stream(
        self,
        head: Batch,
        by_id: Mapping[BatchID, Batch],
        probabilities: Mapping[BatchID, float],
        terms: dict[BatchID, DependencyTerm],
    ) -> _HeadStream:
        return head_stream_of(head, lambda dep: _state(by_id, dep), probabilities, terms)


DependencyTerm = tuple[PathDependency, float, float | None]
"""One dependency's part in every head's stream: its preferred (or forced) assumption, the log
of that assumption's probability, and the flip cost (None when it is finished, so forced)."""


def head_stream_of(
    head: Batch,
    state_of: Callable[[BatchID], BatchState],
    probabilities: Mapping[BatchID, float],
    terms: dict[BatchID, DependencyTerm] | None = None,
) -> _HeadStream:
    """The head's paths, most likely first: finished dependencies forced, open ones at their
    preferred assumption (the likelier side of `probabilities`), each flip a variable.

    `terms` memoises each dependency's part across the heads of one run (pass the same dict for
    the same states and probabilities): under a chain every head shares most of its dependencies
    with the head before it, and computing each part once per run rather than once per head is
    what keeps a deep queue's run from spending most of its time here.
    """
    known: dict[BatchID, DependencyTerm] = {} if terms is None else terms
    base: list[PathDependency] = []
    variables: list[_Variable] = []
    best = 0.0
    for i, dep in enumerate(head.dependencies):
        assumed, preferred_ln, flip_cost = memoised_term(dep, state_of, probabilities, known)
        base.append(assumed)
        if flip_cost is not None:
            best += preferred_ln
            variables.append(_Variable(i, flip_cost))
    return _HeadStream(head.id, base, variables, best, head.lane)


def memoised_term(
    dep: BatchID,
    state_of: Callable[[BatchID], BatchState],
    probabilities: Mapping[BatchID, float],
    terms: dict[BatchID, DependencyTerm],
) -> DependencyTerm:
    """`dependency_term`, computed once per run: `terms` is the run's memo (one snapshot, one
    set of probabilities)."""
    term = terms.get(dep)
    if term is None:
        term = terms[dep] = dependency_term(dep, state_of, probabilities)
    return term


def dependency_term(
    dep: BatchID, state_of: Callable[[BatchID], BatchState], probabilities: Mapping[BatchID, float]
) -> DependencyTerm:
    """`dep`'s part in every head's stream (`DependencyTerm`): what `terms` memoises."""
    forced = RESOLVED_ASSUMPTION.get(state_of(dep))
    if forced is not None:
        return PathDependency(batch=dep, assumption=forced), 0.0, None
    p = probabilities[dep]
    preferred_p, opposite_p = max(p, 1.0 - p), min(p, 1.0 - p)
    preferred = Assumption.SUCCEEDS if p >= 0.5 else Assumption.FAILS
    preferred_ln = _ln(preferred_p)
    flip_cost = _ln(opposite_p) - preferred_ln
    return PathDependency(batch=dep, assumption=preferred), preferred_ln, flip_cost


HeadStream = _HeadStream
"""Public name for other speculators that rank the same per-head enumeration differently."""


def _state(by_id: Mapping[BatchID, Batch], batch_id: BatchID) -> BatchState:
    batch = by_id.get(batch_id)
    return BatchState.UNKNOWN if batch is None else batch.state
