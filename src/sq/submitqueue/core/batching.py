"""Batching: which waiting requests share a batch, how a failed one is split (doc/batching.md).

Pure rules, shared by the orchestrator's batch stage and the simulator, so that what the
simulator measures is what the product does. Probabilities are each request's chance to pass a
build on its own (the scorer's, for a one-request batch); a batch passes only if every member
does, so its probability is the product of its members'.

Formation (`form`): requests wait in queue order. A batch takes the oldest waiting request and
the ones after it in the same lane while it stays within `max_size` and its probability stays at
or above `min_pass_probability`; it closes when it is full (the next request would break a
limit, or no request as likely to pass as its likeliest member could join it) or when its oldest
member has waited `max_wait_ms`. With `max_size` 1 (the default) every request is its own batch at
once, which is the reference's behaviour. The probability floor is what makes batching back off: at
a high failure rate even two requests together fall below it, and a request then never waits.
Which requests may share a batch: optionally, only while the batch's dependencies (the union of
its members' conflicts with the batches in flight) stay within `max_dependencies`, which keeps
batches from forming where the conflict graph is dense; optionally, never two requests that
conflict with each other (`separate_conflicting`).

Splitting (`split`): a batch whose own build failed (on a base that came true) holds at least one
bad member. `HALVES` cuts it in queue order, bors-style. `LIKELIEST` orders the members by their
chance of being bad and cuts where each side carries about half of the failure mass, so a member
that is far likelier to be the culprit than the rest is isolated on its own; with equal
probabilities it is the same cut as `HALVES`. Each part keeps its members in queue order.
"""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sq.submitqueue.entity.batch import Batch, Priority, RequestID
from sq.submitqueue.entity.conflict import dependency_ids
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer

DEFAULT_MIN_PASS_PROBABILITY = 0.7
"""Below this a batch's build fails often enough that the bisection costs more than it saves:
at 0.7 a failed build (30 %) costs about two more builds to find the culprit of a batch of
four, still fewer builds per change than building each alone."""


DEFAULT_DEEP_LOAD = 1.0
"""A queue is deep from this many arrivals per build time per build slot: one build per change
would then take every slot, and below it building each change alone keeps up with a shorter
turnaround than pairs (doc/batching.md, "When CI cannot build every change")."""


DEEP_MAX_SIZE = 2
DEEP_MAX_WAIT_MS = 30_000
"""Deep batching's defaults: pairs, 30 s (doc/benchmarks.md, "Deep batching": with workers short,
pairs landed the most for the fewest builds at every density tried up to 2.5)."""


class SplitRule(enum.StrEnum):
    LIKELIEST = "likeliest"  # isolate the likeliest culprit (balance the failure mass)
    HALVES = "halves"  # blind halves in queue order (bors)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchPolicy:
    """A queue's batching settings (`batching:` in its config)."""

    max_size: int = 1
    max_wait_ms: int = 0
    min_pass_probability: float = DEFAULT_MIN_PASS_PROBABILITY
    split: SplitRule = SplitRule.LIKELIEST
    max_dependencies: int | None = None
    """Which requests may share a batch: a request joins only if the batch's dependencies (the
    union of its members' conflicts with the batches in flight) stay within this many. None: no
    limit."""
    separate_conflicting: bool = False
    """Which requests may share a batch: two requests that conflict with each other never do."""
    deep: DeepBatching | None = None
    """How the queue batches instead while it is deep (more changes arrive per build time than
    CI can build at once); None: the same way always."""

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise ValueError(f"batching max_size must be at least 1, got {self.max_size}")
        if self.max_dependencies is not None and self.max_dependencies < 0:
            raise ValueError(
                f"batching max_dependencies must not be negative, got {self.max_dependencies}"
            )
        if self.max_wait_ms < 0:
            raise ValueError(f"batching max_wait must not be negative, got {self.max_wait_ms}")
        if not 0.0 <= self.min_pass_probability <= 1.0:
            raise ValueError(
                "batching min_pass_probability must be within [0, 1], "
                f"got {self.min_pass_probability!r}"
            )

    @property
    def enabled(self) -> bool:
        """Whether requests may ever share a batch."""
        return self.max_size > 1 or (self.deep is not None and self.deep.max_size > 1)

    @property
    def asks_conflicts(self) -> bool:
        """Whether formation needs what each waiting request conflicts with (`with_conflicts`):
        only for the who-may-share rules."""
        return self.max_dependencies is not None or self.separate_conflicting

    @property
    def alone_until_deep(self) -> bool:
        """Batching only while deep: while shallow every request is its own batch at once, as
        without batching (the batch stage then skips the waiting room)."""
        return self.max_size == 1 and self.enabled

    def at(self, arrived: int) -> BatchPolicy:
        """The rules formation follows when `arrived` requests came in over the last build time:
        the deep ones from `deep.arrivals` on, the queue's own below (the split rule, the floor
        and `separate_conflicting` are the queue's either way)."""
        deep = self.deep
        if deep is None or arrived < deep.arrivals:
            return self
        return dataclasses.replace(
            self,
            max_size=deep.max_size,
            max_wait_ms=deep.max_wait_ms,
            max_dependencies=deep.max_dependencies,
            deep=None,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeepBatching:
    """Batching while the queue is deep: when CI cannot give every arriving change a build of its
    own, building several together is the only way to keep up, whatever the conflict graph
    (doc/batching.md, "When CI cannot build every change"). The queue is deep while at least
    `arrivals` requests came in over the last `build_time_ms` (the service sets `arrivals` to
    `load` x the build budget: 1 means one build per change would take every slot)."""

    build_time_ms: int
    arrivals: float
    max_size: int = DEEP_MAX_SIZE
    max_wait_ms: int = DEEP_MAX_WAIT_MS
    max_dependencies: int | None = None

    def __post_init__(self) -> None:
        if self.build_time_ms <= 0:
            raise ValueError(f"deep batching needs a build time, got {self.build_time_ms} ms")
        if not 0 < self.arrivals < math.inf:
            raise ValueError(f"deep batching arrivals must be positive, got {self.arrivals!r}")
        try:  # the same bounds as the queue's own
            BatchPolicy(
                max_size=self.max_size,
                max_wait_ms=self.max_wait_ms,
                max_dependencies=self.max_dependencies,
            )
        except ValueError as exc:
            raise ValueError(f"deep {exc}") from None


RECOMMENDED = BatchPolicy(max_size=6, max_wait_ms=120_000, max_dependencies=3)
"""Settings measured in the simulator (doc/batching.md): up to six requests, two minutes at most in
the waiting room, the 0.7 floor (at p = 0.2 every request goes alone at once), and at most three
batches in flight a batch may depend on. They pay where the conflict graph is sparse (the small
team at p = 0.05); where it is dense (the paper setting) batches mostly do not form, and the few
that do still cost more than they save there."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Waiting:
    """A validated request waiting for a batch."""

    request: RequestID
    since_ms: int  # when it started waiting (its validation)
    probability: float  # P(it passes a build on its own)
    priority: Priority = Priority.NORMAL
    dependencies: frozenset[str] = frozenset()  # the batches in flight it conflicts with
    conflicts: frozenset[RequestID] = frozenset()  # the waiting requests it conflicts with


@dataclass(frozen=True, slots=True, kw_only=True)
class Formed:
    closed: tuple[tuple[RequestID, ...], ...]  # batches to create now, in queue order
    waiting: tuple[Waiting, ...]  # still waiting for a batch to fill, in queue order
    wake_at_ms: int | None  # when the oldest of those must be batched whatever comes


def form(waiting: Sequence[Waiting], policy: BatchPolicy, now_ms: int) -> Formed:
    """Group `waiting` (in queue order) into batches per `policy` at `now_ms`.

    High-priority requests never share a batch with normal ones: each lane is grouped on its own,
    and a high request never waits for its batch to fill (it is urgent).
    """
    closed: list[tuple[int, tuple[RequestID, ...]]] = []
    left: list[tuple[int, Waiting]] = []
    order = {id(w): i for i, w in enumerate(waiting)}
    for lane in (Priority.HIGH, Priority.NORMAL):
        members = [w for w in waiting if w.priority is lane]
        start = 0
        while start < len(members):
            end, probability = start + 1, members[start].probability
            dependencies = members[start].dependencies
            while end < len(members) and end - start < policy.max_size:
                joining = members[end]
                together = probability * joining.probability
                if together < policy.min_pass_probability:
                    break
                if not _may_join(members[start:end], dependencies, joining, policy):
                    break
                probability = together
                dependencies = dependencies | joining.dependencies
                end += 1
            group = members[start:end]
            # Full: the next request would break a limit, or none could join: not even one as
            # likely to pass as the likeliest member (so at a high failure rate nobody waits).
            likeliest = max(w.probability for w in group)
            full = (
                end < len(members)
                or end - start >= policy.max_size
                or probability * likeliest < policy.min_pass_probability
                or _over(dependencies, policy)
            )
            waited = lane is Priority.HIGH or now_ms - group[0].since_ms >= policy.max_wait_ms
            if full or waited or not policy.enabled:
                closed.append((order[id(group[0])], tuple(w.request for w in group)))
                start = end
                continue
            left += [(order[id(w)], w) for w in group]
            break
    closed.sort(key=lambda c: c[0])
    left.sort(key=lambda c: c[0])
    rest = tuple(w for _, w in left)
    wake = min((w.since_ms for w in rest), default=None)
    return Formed(
        closed=tuple(c for _, c in closed),
        waiting=rest,
        wake_at_ms=None if wake is None else wake + policy.max_wait_ms,
    )


def with_conflicts(
    waiting: Sequence[Waiting],
    analyzer: ConflictAnalyzer,
    in_flight: Sequence[Batch],
    alone: Callable[[RequestID], Batch],
    *,
    separating: ConflictAnalyzer | None = None,
) -> list[Waiting]:
    """`waiting` with what each request conflicts with now, for the who-may-share rules: the
    batches in flight it would depend on, by the queue's analyzer (the one dependency analysis
    asks), and the other waiting requests it conflicts with, by `separating` (default the same),
    each as its one-request batch `alone(request)` (ids no batch in flight has). Blocking; an
    analyzer that cannot tell raises."""
    singles = {w.request: alone(w.request) for w in waiting}
    request_of = {b.id: r for r, b in singles.items()}
    apart = analyzer if separating is None else separating
    out: list[Waiting] = []
    for w in waiting:
        others = [b for r, b in singles.items() if r != w.request]
        dependencies = frozenset(dependency_ids(analyzer.analyze(singles[w.request], in_flight)))
        found = dependency_ids(apart.analyze(singles[w.request], others))
        conflicts = frozenset(request_of[d] for d in found if d in request_of)
        out.append(dataclasses.replace(w, dependencies=dependencies, conflicts=conflicts))
    return out


def _over(dependencies: frozenset[str], policy: BatchPolicy) -> bool:
    return policy.max_dependencies is not None and len(dependencies) > policy.max_dependencies


def _may_join(
    group: Sequence[Waiting], dependencies: frozenset[str], joining: Waiting, policy: BatchPolicy
) -> bool:
    """Whether `joining` may share a batch with `group` (whose dependencies are given)."""
    if policy.separate_conflicting and any(
        w.request in joining.conflicts or joining.request in w.conflicts for w in group
    ):
        return False
    return not _over(dependencies | joining.dependencies, policy)


def split(
    members: Sequence[RequestID], probability: Sequence[float], rule: SplitRule
) -> tuple[tuple[RequestID, ...], tuple[RequestID, ...]]:
    """Cut a failed batch of two or more members in two parts, each in queue order; the part
    holding the earliest member comes first."""
    if len(members) != len(probability):
        raise ValueError("one probability per member")
    if len(members) < 2:
        raise ValueError("a batch of one member cannot be split")
    if rule is SplitRule.HALVES:
        cut = len(members) // 2
        return tuple(members[:cut]), tuple(members[cut:])
    bad = [1.0 - min(max(p, 0.0), 1.0) for p in probability]
    total = sum(bad)
    # Likeliest culprits first; ties keep queue order. Take culprits until half the mass is in.
    ranked = sorted(range(len(members)), key=lambda i: (-bad[i], i))
    taken: set[int] = set()
    mass = 0.0
    for i in ranked[:-1]:  # never take every member: both parts must hold one
        if taken and mass + bad[i] > total / 2 + 1e-12:
            break
        taken.add(i)
        mass += bad[i]
        if mass >= total / 2 - 1e-12:
            break
    one = tuple(members[i] for i in range(len(members)) if i in taken)
    other = tuple(members[i] for i in range(len(members)) if i not in taken)
    return (one, other) if min(taken) == 0 else (other, one)
