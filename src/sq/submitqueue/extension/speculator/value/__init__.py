"""The value-driven Speculator: fund builds by what they are worth, preempt the ones that fell.

See doc/speculation.md for the model, the default threshold and the hysteresis.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.budget import DEFAULT_BUILD_BUDGET, free_slots
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.proposal import PathAction, Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.speculator import SpeculatorError
from sq.submitqueue.extension.speculator.standard.generator import (
    DEFAULT_PROBABILITY,
    DependencyTerm,
    memoised_term,
)
from sq.submitqueue.extension.speculator.value import evidence, memo, rank, walk

DEFAULT_THRESHOLD = 3.0
"""Value (expected head-landings, weighted by what waits behind) per typical build a path must
reach to be funded, unless it is the best path of a head holding no live build."""
DEFAULT_HYSTERESIS = 3.0
"""A running build is cancelled only for a candidate this many times denser than it."""
DEFAULT_MAX_PATHS_PER_HEAD = 8
LIKELY = 0.5

BuildCost = Callable[[Batch], float]
"""Expected build time of a head, in any unit (only ratios between heads matter)."""
Clock = Callable[[], int]


@dataclass(frozen=True, slots=True, kw_only=True)
class ValueSettings:
    budget: int = DEFAULT_BUILD_BUDGET
    threshold: float = DEFAULT_THRESHOLD
    hysteresis: float = DEFAULT_HYSTERESIS
    max_paths_per_head: int = DEFAULT_MAX_PATHS_PER_HEAD
    default_probability: float = DEFAULT_PROBABILITY

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ValueError(f"build budget must not be negative, got {self.budget}")
        if self.threshold < 0:
            raise ValueError(f"threshold must not be negative, got {self.threshold}")
        if self.hysteresis < 1:
            raise ValueError(f"hysteresis must be at least 1, got {self.hysteresis}")
        if self.max_paths_per_head < 1:
            raise ValueError("max_paths_per_head must be at least 1")
        if not 0.0 <= self.default_probability <= 1.0:  # `walk`'s bounds take every p in [0, 1]
            raise ValueError(
                f"default probability must lie in [0, 1], got {self.default_probability}"
            )


class ValueSpeculator:
    """Ranks every head's unbuilt paths by value per unit of build time and funds the best.

    - Within the queue-wide `budget` (the same slots as the standard speculator's).
    - A path is funded only if its density clears `threshold`, except the best path of a head
      when it is likelier than all the head's live builds together (a head is never starved of
      its most likely future, nor stuck on a build the evidence has ruled out).
    - A head holding a live passed path gets no new path.
    - When no slot is free, a running build whose density (value per remaining build time) is
      below 1/`hysteresis` of the best unfunded candidate's is proposed for `cancel`; its slot is
      free once the controller has seen the build stop, and the candidate is funded then.

    `build_cost` gives a head's expected build time in ms (default: all equal); `clock` the time
    in ms. With both, a running build is charged only the time it still has to run; otherwise
    its full cost.
    """

    def __init__(
        self,
        scorer: Scorer,
        settings: ValueSettings | None = None,
        *,
        build_cost: BuildCost | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.scorer = scorer
        self.settings = settings or ValueSettings()
        self._cost = build_cost
        self._clock = clock
        self._weights = rank.WeightMemo()
        self._memo = memo.HeadMemo()
        self._exhaustive = False  # tests: enumerate every head, as before `walk` (same output)

    def speculate(self, snapshot: SpeculationSnapshot) -> list[Speculation]:
        for stored in snapshot.path_sets:
            if any(e.status is PathStatus.UNKNOWN for e in stored.paths):
                raise SpeculatorError(f"a path of {stored.head} has no status")
        settings = self.settings
        heads = [b for b in snapshot.batches if b.state is BatchState.SPECULATING]
        if not heads:
            return []
        free = free_slots(settings.budget, snapshot.path_sets)
        if not free and not rank.any_preemptible(snapshot):
            return []  # no slot, and no build a candidate could displace: nothing to propose
        p = _Priors(
            evidence.landing_probabilities(snapshot, self.scorer, settings.default_probability),
            lambda dep: evidence.prior(
                self.scorer, snapshot.batch(dep), settings.default_probability
            ),
        )
        costs = {h.id: self._head_cost(h) for h in heads}
        typical = sum(costs.values()) / len(costs)
        share = {h.id: costs[h.id] / typical for h in heads}
        weights = self._weights.weights(heads)
        # A build of a head's right future resolves the head either way: it lands the head (worth
        # 1 with P(h lands)), or proves it bad so that the heads waiting on it move on to the
        # futures without it (worth them whether it lands or not).
        worth = {h.id: p[h.id] + weights[h.id] - 1 for h in heads}

        run = self._memo.start(snapshot, p, heads, settings)
        # A head's figures are computed when the run first needs them: the walk asks only for
        # the heads it visits, the preemptions only for the heads holding a live build (at
        # depth, a few of hundreds).
        figures: dict[BatchID, memo.HeadFigures] = {}

        def figures_of(head: Batch) -> memo.HeadFigures:
            known = figures.get(head.id)
            if known is None:
                known = figures[head.id] = _figures(run, head, snapshot, p)
            return known

        terms = run.dependency_terms  # one snapshot, one `p`: shared by heads

        def skip(head: Batch) -> bool:
            return self._offers_nothing(head, figures_of(head), worth, share)

        readiness = rank.Readiness(snapshot, heads)

        def enumerate_head(head: Batch) -> list[rank.Valued]:
            return [
                dataclasses.replace(v, premature=True) if readiness.premature(v.path) else v
                for v in enumerate_candidates(head)
            ]

        def enumerate_candidates(head: Batch) -> list[rank.Valued]:
            known = figures_of(head)
            remembered = known.candidates
            key = (worth[head.id], share[head.id], known.live)
            if remembered is not None and remembered[0] == key:
                return list(remembered[1])
            if known.stored is None:
                known.stored = rank.stored_statuses(known.path_set)
            if known.stream is None:
                known.stream = memo.ReplayedStream(rank.head_stream(head, snapshot, p, terms))
            found = rank.candidates(
                known.stored,
                known.stream.replay(),
                worth[head.id],
                share[head.id],
                live_probability=known.live,
                margin=settings.hysteresis,
                threshold=settings.threshold,
                limit=settings.max_paths_per_head,
            )
            known.candidates = (key, tuple(found))
            return found

        # `free` builds, then one unfunded candidate per build it may displace (at least one).
        # A premature candidate may take a free slot but displaces nothing: it could not land
        # any sooner for it. So the run needs the best `limit` candidates that are not
        # premature and the best `free` that are.
        limit = free + max(rank.preemptible_count(snapshot), 1)
        if self._exhaustive:  # the reference walk, for tests: every head, in listing order
            every = [v for h in heads if not skip(h) for v in enumerate_head(h)]
            ready = [v for v in every if not v.premature]
            premature = [v for v in every if v.premature]
        else:

            def term(dep: BatchID) -> DependencyTerm:
                return memoised_term(dep, snapshot.state_of, p, terms)

            scale = {h.id: worth[h.id] / share[h.id] for h in heads}

            def best(among: list[Batch], tier: bool, limit: int) -> list[rank.Valued]:
                # One tier per walk, so that its density bounds prune as they always did.
                return walk.best_candidates(
                    among,
                    scale,
                    limit,
                    skip=skip,
                    enumerate_head=lambda h: [v for v in enumerate_head(h) if v.premature is tier],
                    term=term,
                )

            ready = best([h for h in heads if not readiness.surely_premature(h)], False, limit)
            waiting = [h for h in heads if readiness.may_be_premature(h)] if free else []
            premature = best(waiting, True, free)
        lanes = {h.id: h.lane for h in heads}  # high-priority heads' paths first

        def key(v: rank.Valued) -> walk.Key:
            return walk.sort_key(v, lanes)

        ready.sort(key=key)
        premature.sort(key=key)
        funded = sorted(ready[:free] + premature[:free], key=key)[:free]
        proposals = [
            Speculation(path=v.path, action=PathAction.BUILD, ranking_score=v.density)
            for v in funded
        ]
        unfunded = ready[sum(1 for v in funded if not v.premature) : limit]
        if unfunded:
            by_id = {h.id: h for h in heads}
            live_p = {
                path: value
                for head in _holding_live_builds(snapshot, by_id)
                for path, value in figures_of(head).live_p
            }
            proposals += self._preemptions(snapshot, unfunded, live_p, worth, share, typical, lanes)
        run.publish()
        return proposals

    def _preemptions(
        self,
        snapshot: SpeculationSnapshot,
        unfunded: list[rank.Valued],
        live_p: dict[PathID, float],
        worth: dict[BatchID, float],
        share: dict[BatchID, float],
        typical: float,
        lanes: dict[BatchID, int],
    ) -> list[Speculation]:
        """Cancel proposals for running builds that the best unfunded candidates should displace.

        Lanes first: a high head's path displaces a normal head's build whatever their values,
        and a high head's build is never displaced for a normal one; within a lane, value decides.

        Without a clock: a candidate displaces the least dense running build when it is
        `hysteresis` times denser. With one, what a preemption trades is delay: the candidate
        starts now instead of when the k-th live build ends (k its place among the unfunded),
        and the victim's head starts over, losing the time its build ran plus that same wait.
        So a candidate displaces a victim only when value x wait exceeds `hysteresis` times the
        victim's value x (elapsed + wait): at scale, where a slot frees every few seconds, a
        build that has run for minutes is not thrown away to save a candidate seconds.
        """
        remaining, elapsed = self._progress(share, typical)
        running = rank.running_builds(snapshot, live_p, worth, remaining, elapsed)
        h = self.settings.hysteresis
        clocked = elapsed is not _NOT_STARTED
        ends = rank.slot_waits(snapshot, remaining) if clocked else []
        if clocked:
            running.sort(key=lambda r: (r.value * (r.elapsed + 1.0), r.entry.id))
        running.sort(key=lambda r: -lanes.get(r.entry.path.head, 0))  # stable: lowest lane first
        out: list[Speculation] = []
        for k, (candidate, victim) in enumerate(zip(unfunded, running, strict=False)):
            lane = lanes.get(candidate.path.head, 0)
            victim_lane = lanes.get(victim.entry.path.head, 0)
            if lane > victim_lane:
                break
            if lane == victim_lane:
                if not clocked and candidate.density <= h * victim.density:
                    break
                wait = ends[k] if k < len(ends) else 1.0
                if clocked and candidate.value * wait <= h * victim.value * (victim.elapsed + wait):
                    break
            out.append(_cancel(victim))
        return out

    def _offers_nothing(
        self,
        head: Batch,
        figures: memo.HeadFigures,
        worth: Mapping[BatchID, float],
        share: Mapping[BatchID, float],
    ) -> bool:
        """The head gets no new path this run, known without enumerating any."""
        if figures.likely_pass:
            return True
        # A head's paths are exclusive futures, so no unbuilt one is likelier than `rest`: when
        # even that could neither be offered first nor clear the threshold, skip the head (most
        # heads with a live build, most runs).
        live = figures.live
        rest = 1.0 - live
        h = self.settings.hysteresis
        return (
            live > 0.0
            and rest <= h * live
            and rest * worth[head.id] / share[head.id] < self.settings.threshold
        )

    def _head_cost(self, head: Batch) -> float:
        if self._cost is None:
            return 1.0
        return max(self._cost(head), 1e-9)

    def _progress(
        self, share: dict[BatchID, float], typical: float
    ) -> tuple[Callable[[BatchID, PathEntry], float], Callable[[PathEntry], float]]:
        """Per live build: the share of a typical build it still has to run, and has run."""
        if self._clock is None or self._cost is None:
            return (lambda head, entry: share[head]), _NOT_STARTED
        now = self._clock()

        def ran(entry: PathEntry) -> float:
            if entry.status is not PathStatus.BUILDING:
                return 0.0
            return max(0, now - entry.updated_at_ms) / typical

        def remaining(head: BatchID, entry: PathEntry) -> float:
            return max(share[head] - ran(entry), rank.MIN_REMAINING_SHARE * share[head])

        return remaining, ran


def _not_started(entry: PathEntry) -> float:
    return 0.0


_NOT_STARTED = _not_started


def _cancel(victim: rank.Running) -> Speculation:
    return Speculation(
        path=victim.entry.path, action=PathAction.CANCEL, ranking_score=victim.density
    )


def _holding_live_builds(
    snapshot: SpeculationSnapshot, heads: Mapping[BatchID, Batch]
) -> list[Batch]:
    """The speculating heads with a path in a live status (what a preemption may displace)."""
    return [
        heads[path_set.head]
        for path_set in snapshot.path_sets
        if path_set.head in heads
        and any(entry.status in rank.LIVE_STATUSES for entry in path_set.paths)
    ]


def _figures(
    run: memo.RunFigures, head: Batch, snapshot: SpeculationSnapshot, p: Mapping[BatchID, float]
) -> memo.HeadFigures:
    """The head's figures: remembered from an earlier run when its inputs are the same."""
    path_set = snapshot.path_set(head.id)
    figures = run.figures(head, path_set)
    if figures is None:
        figures = _head_figures(head, path_set, snapshot, p)
        run.remember(head, figures)
    return figures


def _head_figures(
    head: Batch,
    path_set: PathSet | None,
    snapshot: SpeculationSnapshot,
    p: Mapping[BatchID, float],
) -> memo.HeadFigures:
    """P(each live build's path) and their sum (a head's paths are exclusive futures); and
    whether a passed path, not contradicted, is more likely than not to be the one that lands.

    One whose assumptions the evidence has all but ruled out (it assumed a dependency fails whose
    change has since passed a build) does not stop alternatives from being funded.
    """
    live_p: list[tuple[PathID, float]] = []
    total = 0.0
    likely_pass = False
    for entry in path_set.paths if path_set else ():
        if entry.status in rank.LIVE_STATUSES:
            probability = rank.path_probability(entry.path, snapshot, p)
            live_p.append((entry.id, probability))
            total += probability
        elif entry.status is PathStatus.PASSED and not likely_pass:
            likely_pass = rank.path_probability(entry.path, snapshot, p) >= LIKELY
    return memo.HeadFigures(
        path_set=path_set,
        dependencies=head.dependencies,
        live_p=tuple(live_p),
        live=total,
        likely_pass=likely_pass,
    )


class _Priors(dict[BatchID, float]):
    """`landing_probabilities`, and the scorer's prior of any other batch on first use: a run
    reads only the dependencies of the heads it walks."""

    def __init__(self, known: dict[BatchID, float], prior: Callable[[BatchID], float]) -> None:
        super().__init__(known)
        self._prior = prior

    def __missing__(self, batch: BatchID) -> float:
        value = self[batch] = self._prior(batch)
        return value
