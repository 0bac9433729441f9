"""The value of a path and of a running build, per unit of CI time (doc/speculation.md).

value(path) = P(the path's open assumptions hold) x P(its head lands) x weight(head), where the
weight is 1 + the heads that transitively wait on this one: a head's landing is what unblocks a
chain, so a hedge near the front of a chain is worth what waits behind it. Paths of one head are
mutually exclusive futures, so P(path) x P(head) is the probability that this very build is the
one that lands its head. Density = value / (cost / typical cost); a running build is charged only
the time it still has to run, so a build about to finish is not thrown away for a fresh one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.finished import Finished
from sq.submitqueue.entity.path import Assumption, PathDependency, PathID, SpeculationPath
from sq.submitqueue.entity.pathset import DEFAULT_MAX_ATTEMPTS, PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator.standard.generator import (
    RESOLVED_ASSUMPTION,
    DependencyTerm,
    Flips,
    HeadStream,
    head_stream_of,
)

LIVE_STATUSES = frozenset({PathStatus.PENDING, PathStatus.BUILDING})
LAST_PREEMPTIBLE_ATTEMPT = DEFAULT_MAX_ATTEMPTS - 1
"""Preempting the attempt before the last would leave CI a single try: finalize counts a path
cancelled on its last attempt as dead (rules.no_viable_future)."""
MIN_REMAINING_SHARE = 0.05
"""A build past its expected time is charged this share of it, not nothing (it may overrun)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Valued:
    path: SpeculationPath
    value: float
    density: float
    first: bool  # a head's best path, likelier than all its live builds: exempt from the threshold
    rank: int  # its place in its head's enumeration: a deterministic tie-break
    premature: bool = False
    """It waits on a dependency no build is on its way to settle (`Readiness`): it ranks after
    every path that does not, and never displaces a running build."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Running:
    entry: PathEntry
    value: float
    density: float  # value per remaining build time
    elapsed: float  # how long it has run, in the cost's unit (0 without a clock)


def dependent_weights(heads: Sequence[Batch]) -> dict[BatchID, int]:
    """1 + how many heads wait on each head, directly or through other heads."""
    index = {h.id: i for i, h in enumerate(heads)}
    dependents: list[list[int]] = [[] for _ in heads]
    for i, head in enumerate(heads):
        for dep in head.dependencies:
            j = index.get(dep)
            if j is not None and j != i:
                dependents[j].append(i)
    below = [0] * len(heads)
    for j in _dependents_first(dependents):
        mask = 0
        for i in dependents[j]:
            mask |= (1 << i) | below[i]
        below[j] = mask
    return {h.id: 1 + below[i].bit_count() for i, h in enumerate(heads)}


class WeightMemo:
    """`dependent_weights` of the last run, reused when heads only left since.

    A head that left (it is merging, or done) without depending on any head still here was on
    no dependency chain between heads still here, so every remaining head's weight is what it
    was: in the deep serial run, the front head lands and the rest keep theirs. Anything else (a
    new head, a changed dependency list, a head that left from the middle) recomputes.
    """

    def __init__(self) -> None:
        self._last: tuple[dict[BatchID, tuple[BatchID, ...]], dict[BatchID, int]] | None = None

    def weights(self, heads: Sequence[Batch]) -> dict[BatchID, int]:
        reused = self._reuse(heads)
        weights = reused if reused is not None else dependent_weights(heads)
        self._last = ({h.id: h.dependencies for h in heads}, weights)  # one assignment: no tear
        return weights

    def _reuse(self, heads: Sequence[Batch]) -> dict[BatchID, int] | None:
        last = self._last
        if last is None:
            return None
        dependencies, weights = last
        for head in heads:
            known = dependencies.get(head.id)
            if known is None or known != head.dependencies:
                return None
        here = {h.id for h in heads}
        for left in dependencies.keys() - here:
            if not here.isdisjoint(dependencies[left]):
                return None
        return {h.id: weights[h.id] for h in heads}


def _dependents_first(dependents: list[list[int]]) -> list[int]:
    """A post-order of the dependents graph, so every head comes after those waiting on it."""
    order: list[int] = []
    seen = [False] * len(dependents)
    for root in range(len(dependents)):
        if seen[root]:
            continue
        seen[root] = True
        stack: list[tuple[int, Iterator[int]]] = [(root, iter(dependents[root]))]
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                order.append(node)
            elif not seen[child]:
                seen[child] = True
                stack.append((child, iter(dependents[child])))
    return order


class Readiness:
    """Which open dependencies a path cannot yet be landed past, in one run.

    A head lands only after its dependencies do, and a dependency lands or fails only on a build
    of its own. A path that guesses a dependency succeeds while that dependency holds no build
    that could still pass (none pending, building, or passed and not contradicted), or that
    names a dependency not built yet (never, or only on builds stopped before their end that it
    will get again), is *premature*: however soon its build ends, its head
    waits for a build of that dependency that has not started. With free slots to spare that
    costs nothing, and it is funded as before; when slots are short, the slot goes first to a
    path that can land once its own build ends (doc/speculation.md, "Premature paths").
    """

    def __init__(self, snapshot: SpeculationSnapshot, heads: Sequence[Batch]) -> None:
        speculating = {h.id for h in heads}
        built: set[BatchID] = set()
        buildable: set[BatchID] = set()
        finished = snapshot.finished
        for path_set in snapshot.path_sets:
            if path_set.head not in speculating:
                continue
            if any(_tried(e) for e in path_set.paths):
                built.add(path_set.head)
            if any(_may_pass(e, finished) for e in path_set.paths):
                buildable.add(path_set.head)
        self._never_built = frozenset(speculating - built)
        self._no_build_coming = frozenset(speculating - buildable)

    def may_be_premature(self, head: Batch) -> bool:
        """Some path of `head` may be premature: a dependency has no build coming."""
        return not self._no_build_coming.isdisjoint(head.dependencies)

    def surely_premature(self, head: Batch) -> bool:
        """Every path of `head` is premature: it depends on a head not built yet."""
        return not self._never_built.isdisjoint(head.dependencies)

    def premature(self, path: SpeculationPath) -> bool:
        return any(
            d.batch in self._never_built
            or (d.assumption is Assumption.SUCCEEDS and d.batch in self._no_build_coming)
            for d in path.dependencies
        )


def _tried(entry: PathEntry) -> bool:
    """The entry was or is being built for good: live, passed, failed, or cancelled for good
    (one preempted, or cancelled with attempts left, is built again)."""
    return (
        entry.status in LIVE_STATUSES
        or entry.status in (PathStatus.PASSED, PathStatus.FAILED)
        or entry.cancelled_for_good
    )


def _tries(entry: PathEntry) -> int:
    """The entry's attempts less those relaunched after their runner went away (no CI try)."""
    return entry.attempt - entry.relaunched


def _may_pass(entry: PathEntry, finished: Finished) -> bool:
    if entry.status in LIVE_STATUSES:
        return True
    return entry.status is PathStatus.PASSED and not finished.contradicts(entry.path)


def head_stream(
    head: Batch,
    snapshot: SpeculationSnapshot,
    p: Mapping[BatchID, float],
    terms: dict[BatchID, DependencyTerm] | None = None,
) -> HeadStream:
    """The head's paths, most likely first, with open dependencies at probability `p` (`terms`:
    the run's memo of each dependency's part, `head_stream_of`)."""
    return head_stream_of(head, snapshot.state_of, p, terms)


def path_probability(
    path: SpeculationPath, snapshot: SpeculationSnapshot, p: Mapping[BatchID, float]
) -> float:
    """P(every assumption of `path` holds): 0 when a finished dependency contradicts one."""
    finished = snapshot.finished
    if path.split().undecided:
        return _malformed_path_probability(path, snapshot, p)
    if finished.contradicts(path):
        return 0.0
    done = finished.either  # a finished dependency came true: the path is not contradicted
    succeeds = Assumption.SUCCEEDS
    # In path order, one multiplication at a time (math.prod does that): the same bits each run.
    return math.prod(
        [
            p[d.batch] if d.assumption is succeeds else 1.0 - p[d.batch]
            for d in path.dependencies
            if d.batch not in done
        ],
        start=1.0,
    )


def _malformed_path_probability(
    path: SpeculationPath, snapshot: SpeculationSnapshot, p: Mapping[BatchID, float]
) -> float:
    """`path_probability` of a path with an `UNKNOWN` assumption: a finished dependency
    contradicts it whatever its outcome."""
    total = 1.0
    for dependency in path.dependencies:
        forced = RESOLVED_ASSUMPTION.get(snapshot.state_of(dependency.batch))
        if forced is not None:
            if forced is not dependency.assumption:
                return 0.0
            continue
        lands = p[dependency.batch]
        total *= lands if dependency.assumption is Assumption.SUCCEEDS else 1.0 - lands
    return total


class PathStream(Protocol):
    """What `candidates` reads of a head's stream (`HeadStream`, or a replay of one)."""

    def build(self, flips: Flips) -> SpeculationPath: ...

    def score(self, flips: Flips) -> float: ...

    def advance(self) -> Flips | None: ...


StoredStatuses = Mapping[tuple[PathDependency, ...], PathStatus]


def stored_statuses(path_set: PathSet | None) -> StoredStatuses:
    """The status of each funded path of a set, by its assumptions (what `candidates` reads)."""
    entries = path_set.paths if path_set else ()
    # Matched on assumptions rather than ids: hashing every enumerated path costs more than this.
    return {e.path.dependencies: e.status for e in entries}


def candidates(
    stored: StoredStatuses,
    stream: PathStream,
    worth: float,
    cost_share: float,
    *,
    live_probability: float,
    margin: float,
    threshold: float,
    limit: int,
) -> list[Valued]:
    """The head's unfunded paths worth a build, best first.

    A head whose best unbuilt path is `margin` times likelier than all its live builds together
    (`live_probability` is their sum: paths of a head are exclusive) is offered that path
    whatever its value; every other path must clear `threshold`. Once a build of the head has
    failed, that exemption is kept for the one path left when every dependency has finished
    (the head's verdict needs it): before then each hedge must earn its build, or a bad head in
    a line of n open dependencies would be built on up to 2^n of their outcomes, one per
    failure. A cancelled path may be offered again (a new attempt). `stored` is the head's set
    as `stored_statuses` gives it.
    """
    out: list[Valued] = []
    failed = any(s is PathStatus.FAILED for s in stored.values())
    flips: tuple[int, ...] | None = ()
    while flips is not None and len(out) < limit:
        path = stream.build(flips)
        status = stored.get(path.dependencies)
        if status is None or status is PathStatus.CANCELLED:
            probability = math.exp(stream.score(flips))
            value = probability * worth
            density = value / cost_share
            first = (
                not out
                and probability > margin * live_probability
                and (not failed or probability >= 1.0)
            )
            if probability <= 0.0 or (not first and density < threshold):
                break
            out.append(Valued(path=path, value=value, density=density, first=first, rank=len(out)))
        flips = stream.advance()
    return out


def running_builds(
    snapshot: SpeculationSnapshot,
    live_p: Mapping[PathID, float],
    worth: Mapping[BatchID, float],
    remaining_share: Callable[[BatchID, PathEntry], float],
    elapsed_share: Callable[[PathEntry], float],
) -> list[Running]:
    """Preemptible live builds of speculating heads, lowest density (value per remaining time)
    first."""
    out: list[Running] = []
    for path_set in snapshot.path_sets:
        if snapshot.state_of(path_set.head) is not BatchState.SPECULATING:
            continue
        for entry in path_set.paths:
            if entry.status not in LIVE_STATUSES or _tries(entry) >= LAST_PREEMPTIBLE_ATTEMPT:
                continue
            value = live_p[entry.id] * worth[path_set.head]
            share = max(remaining_share(path_set.head, entry), MIN_REMAINING_SHARE)
            out.append(
                Running(
                    entry=entry, value=value, density=value / share, elapsed=elapsed_share(entry)
                )
            )
    out.sort(key=lambda r: (r.density, r.entry.id))
    return out


def any_preemptible(snapshot: SpeculationSnapshot) -> bool:
    """Some live build of a speculating head may still be preempted (what `running_builds`
    lists), without valuing any."""
    return any(
        entry.status in LIVE_STATUSES and _tries(entry) < LAST_PREEMPTIBLE_ATTEMPT
        for path_set in snapshot.path_sets
        if snapshot.state_of(path_set.head) is BatchState.SPECULATING
        for entry in path_set.paths
    )


def preemptible_count(snapshot: SpeculationSnapshot) -> int:
    """How many builds `running_builds` lists, without valuing any."""
    return sum(
        entry.status in LIVE_STATUSES and _tries(entry) < LAST_PREEMPTIBLE_ATTEMPT
        for path_set in snapshot.path_sets
        if snapshot.state_of(path_set.head) is BatchState.SPECULATING
        for entry in path_set.paths
    )


def slot_waits(
    snapshot: SpeculationSnapshot, remaining_share: Callable[[BatchID, PathEntry], float]
) -> list[float]:
    """When the live builds will end and free their slots, soonest first (in cost shares)."""
    ends = [
        max(remaining_share(path_set.head, entry), MIN_REMAINING_SHARE)
        for path_set in snapshot.path_sets
        if snapshot.state_of(path_set.head) is BatchState.SPECULATING
        for entry in path_set.paths
        if entry.status in LIVE_STATUSES
    ]
    ends.sort()
    return ends
