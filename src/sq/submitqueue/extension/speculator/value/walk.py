"""Which heads a value run enumerates: only those whose paths could still be proposed.

A run proposes at most its `limit` best candidates in the final order (lane, -density, head,
rank): the free slots, then one unfunded candidate per running build it could displace. A head's
candidates are at most as dense as its best path, whose probability is the product of its open
dependencies' preferred sides (each <= 1), so the product over any of its dependencies bounds it
from above. Heads are visited best bound first (lane first), and a head's bound is tightened a
growing chunk of dependencies at a time, newest first (under a chain the oldest have landed and
are forced, so they tighten nothing), only while it could still beat the `limit`-th candidate
held: the heads far behind are dismissed after a few dependencies each instead of being walked in
full (doc/speculation.md).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sq.submitqueue.entity.batch import Batch, BatchID
from sq.submitqueue.extension.speculator.standard.generator import DependencyTerm
from sq.submitqueue.extension.speculator.value.rank import Valued

SLACK = 1.0 + 1e-9
"""A density bound is computed by other floating-point steps than the densities it bounds (`exp`
and the product's order): widened so that rounding can never make it tighter than they are."""
SUM_ERROR = 3e-16
"""Times n squared: more than twice the rounding error of summing n logs of probabilities >= 0.5
in any order ((n - 1) x 2**-53 x n x ln 2), so a partial sum taken in another order than the
stream's plus this is never below the stream's whole sum."""
FIRST_CHUNK = 16
"""Dependencies read on a head's first tightening; each later one reads as many as so far."""

Key = tuple[int, bool, float, BatchID, int]


@dataclass(frozen=True, slots=True)
class _Kept:
    """A held candidate's sort key, ordered backwards: `heapq`'s root is the worst one held."""

    key: Key

    def __lt__(self, other: _Kept) -> bool:
        return self.key > other.key


@dataclass(slots=True)
class _Bound:
    """How many of a head's dependencies (the newest) its best path's log-probability sums."""

    read: int = 0
    log_probability: float = 0.0


def sort_key(valued: Valued, lanes: Mapping[BatchID, int]) -> Key:
    """The final order of a run's candidates: high lanes first, then the paths that are not
    premature (`rank.Readiness`), then density, head, rank."""
    return (
        lanes[valued.path.head],
        valued.premature,
        -valued.density,
        valued.path.head,
        valued.rank,
    )


def best_candidates(
    heads: Sequence[Batch],
    scale: Mapping[BatchID, float],
    limit: int,
    *,
    skip: Callable[[Batch], bool],
    enumerate_head: Callable[[Batch], list[Valued]],
    term: Callable[[BatchID], DependencyTerm],
) -> list[Valued]:
    """Every candidate of the heads enumerated; among them the `limit` best of all heads.

    `scale` is a head's worth / cost share: a candidate's density is its probability times that.
    `skip` says a head is offered nothing (asked once, of a head whose bound, read in full, still
    reaches the candidates held: at depth most heads are dismissed by their bound first, and are
    never valued), `enumerate_head` gives its candidates, and `term` a dependency's memoised part.
    """
    lanes = {h.id: h.lane for h in heads}
    queue = [(h.lane, -scale[h.id] * SLACK, i) for i, h in enumerate(heads)]
    heapq.heapify(queue)
    bounds = [_Bound() for _ in heads]
    kept: list[_Kept] = []
    out: list[Valued] = []
    while queue:
        lane, negative_bound, i = queue[0]
        if len(kept) >= limit and _beyond(lane, -negative_bound, kept[0].key):
            break  # the best bound left cannot enter the top `limit`: nor can any behind it
        heapq.heappop(queue)
        head, bound = heads[i], bounds[i]
        if bound.read < len(head.dependencies):
            _tighten(head, bound, term)
            slack = SUM_ERROR * len(head.dependencies) ** 2
            density = math.exp(bound.log_probability + slack) * scale[head.id] * SLACK
            heapq.heappush(queue, (lane, -density, i))
            continue
        if skip(head):
            continue
        found = enumerate_head(head)
        out += found
        for valued in found:
            _keep(kept, sort_key(valued, lanes), limit)
    return out


def _tighten(head: Batch, bound: _Bound, term: Callable[[BatchID], DependencyTerm]) -> None:
    """Add the next chunk of the head's dependencies, newest first, to its bound's log-probability.

    An open dependency adds the log of its preferred side, at least ln 0.5 (its likelier side),
    at most 0; a finished one adds nothing. So a partial sum is at least the whole one, up to
    rounding (`SUM_ERROR`).
    """
    dependencies = head.dependencies
    n = len(dependencies)
    stop = min(n, max(FIRST_CHUNK, 2 * bound.read))
    total = bound.log_probability
    for dep in dependencies[n - stop : n - bound.read]:
        _, preferred_ln, flip_cost = term(dep)
        if flip_cost is not None:
            total += preferred_ln
    bound.read = stop
    bound.log_probability = total


def _beyond(lane: int, bound: float, worst: Key) -> bool:
    """No candidate of a head with this lane and density bound sorts before `worst` (a tie may:
    the head id decides it, so it is enumerated). One walk's candidates are all of one tier
    (premature or not, see `ValueSpeculator.speculate`), so the tier never decides."""
    return lane > worst[0] or (lane == worst[0] and bound < -worst[2])


def _keep(kept: list[_Kept], key: Key, limit: int) -> None:
    if len(kept) < limit:
        heapq.heappush(kept, _Kept(key))
    elif key < kept[0].key:
        heapq.heapreplace(kept, _Kept(key))
