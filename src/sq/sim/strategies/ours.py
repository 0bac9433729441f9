"""Our queue: the real speculation engine, driven the way the controllers drive it.

On arrival a change becomes a one-request batch whose dependencies are what a real conflict
analyzer reports against the batches in flight (dependency analysis). Then, at every instant
something happened, speculate runs are made until the queue is quiet: fold finished builds into
the path sets, admit, `finalize`, ask the Speculator (`ValueSpeculator` by default,
`StandardSpeculator` for `ours-standard`), `check_proposals`,
`apply_proposals`. The build stage starts each pending path at once; a `cancelling` path has its
build stopped at once; a batch that finalize moved to `merging` lands at once. Only those three
stages, and the clock, are simulated here: every decision is the engine's.

Landing is exact as runway makes it (doc/speculation.md): a build whose head conflicts with a
change that landed after the build started and that the build did not include is `outdated`,
and its path is built again on the target as it is. Without early landing that never happens
(a conflicting change is a dependency, built under the head or failed); with it, a dependency
that a covered head landed ahead of is built again before it lands.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence

from sq.sim.ledger import Ledger
from sq.sim.strategies import Arrival, Finished, arrivals, finish_build, start_build
from sq.sim.workload import Change, ConflictKind, Workload, prehistory
from sq.submitqueue.core.speculation import priority
from sq.submitqueue.core.speculation.check import check_proposals
from sq.submitqueue.core.speculation.dispatch import apply_proposals
from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.core.speculation.fold import fold_path_set
from sq.submitqueue.entity.batch import (
    DEPENDENCY_STATES,
    Batch,
    BatchID,
    BatchState,
    Priority,
    RequestID,
    batch_id,
    is_terminal,
)
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus, is_build_terminal
from sq.submitqueue.entity.conflict import Conflict, ConflictType, dependency_ids
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.pathset import PathAttempt, PathSet, PathStatus
from sq.submitqueue.entity.proposal import Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
)
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.scorer.history import HistoryConfig, HistoryScorer
from sq.submitqueue.extension.scorer.outcomes import BatchFeatures, BatchOutcome, MemoryOutcomeStore
from sq.submitqueue.extension.speculator import Speculator
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator

QUEUE = "sim"
WARM_OUTCOMES = 1000
"""Outcomes of the team's earlier changes a warm history scorer has learned before the run starts
(a queue that has been running a while; a restart replays up to 5,000 from its store)."""
MAX_RUNS_PER_INSTANT = 100
"""Runs settle in a handful of rounds; more means the engine and the simulator disagree."""


class ScorerKind(enum.StrEnum):
    CONSTANT = "constant"  # every change passes with the workload's mean probability
    HISTORY = "history"  # learned from this queue's own outcomes (author, folders, size)
    HISTORY_WARM = "history-warm"  # the same, having first seen the team's WARM_OUTCOMES before
    RATE = "rate"  # the ceiling: each change's true bad rate (never its outcome), not learnable


class SpeculatorKind(enum.StrEnum):
    VALUE = "value"  # the default: ValueSpeculator
    STANDARD = "standard"  # the reference's best-first + sticky, kept for parity


class SpeculatorStrategy:
    def __init__(
        self,
        capacity: int,
        scorer: ScorerKind = ScorerKind.CONSTANT,
        speculator: SpeculatorKind = SpeculatorKind.VALUE,
        *,
        early_landing: bool = False,
        flaky_retries: int = 0,
    ) -> None:
        """`flaky_retries` is the queue's setting of that name: a failed build is built again
        that many times before the failure counts (the workload's `flaky_rate` makes flakes)."""
        self.capacity = capacity
        self.scorer = scorer
        self.speculator = speculator
        self.early_landing = early_landing
        self.flaky_retries = flaky_retries
        name = "ours" if scorer is ScorerKind.CONSTANT else f"ours+{scorer.value}"
        name = name if speculator is SpeculatorKind.VALUE else f"{name}-{speculator.value}"
        name = f"{name}+early" if early_landing else name
        self.name = f"{name}+retry{flaky_retries}" if flaky_retries else name

    def run(self, workload: Workload, ledger: Ledger) -> None:
        queue = _EngineQueue(workload, ledger, self.capacity, self.scorer, self.speculator)
        queue.early_landing = self.early_landing
        queue.flaky_retries = self.flaky_retries
        queue.run()


class PairwiseConflictAnalyzer:
    """The simulator's stand-in for a target analyzer: asks the workload which changes overlap."""

    def __init__(self, workload: Workload, change_of: dict[BatchID, int]) -> None:
        self._workload = workload
        self._change_of = change_of

    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]:
        mine = self._change_of[candidate.id]
        return [
            Conflict(batch_id=b.id, type=ConflictType.TARGET_OVERLAP)
            for b in in_flight
            if self._workload.conflicts(mine, self._change_of[b.id])
        ]


def _features_of(change: Change) -> BatchFeatures:
    return BatchFeatures(
        author=change.author, areas=frozenset(change.areas), lines_changed=change.lines_changed
    )


class _RateScorer:
    """P(lands) = 1 - the rate the change was drawn bad with: the best any per-author-and-folder
    model could learn, the ceiling a learned scorer is measured against (it never sees outcomes)."""

    def __init__(self, workload: Workload, change_of: dict[BatchID, int]) -> None:
        self._changes = workload.changes
        self._change_of = change_of

    def score(self, batch: Batch) -> float:
        return 1.0 - self._changes[self._change_of[batch.id]].bad_rate


class _EngineQueue:
    def __init__(
        self,
        workload: Workload,
        ledger: Ledger,
        capacity: int,
        scorer: ScorerKind,
        speculator: SpeculatorKind,
    ) -> None:
        self.workload = workload
        self.ledger = ledger
        self.batches: dict[BatchID, Batch] = {}
        self.change_of: dict[BatchID, int] = {}
        self.active: list[BatchID] = []  # in-flight batches, in listing (creation) order
        self.sets: dict[BatchID, PathSet] = {}
        self.builds: dict[PathAttempt, Build] = {}
        self.ledger_build: dict[PathAttempt, int] = {}
        self.attempt_of: dict[int, PathAttempt] = {}
        self.history: HistoryScorer | None = None
        self.analyzer = self._analyzer()
        self.now = 0
        self.speculator: Speculator = self._speculator(speculator, self._scorer(scorer), capacity)
        self.events = arrivals(workload)
        self.runs = 0
        self.early_landing = False
        self.outdated = 0
        self.flaky_retries = 0

    def _speculator(self, kind: SpeculatorKind, scorer: Scorer, capacity: int) -> Speculator:
        if kind is SpeculatorKind.STANDARD:
            return StandardSpeculator(scorer, capacity)
        changes = self.workload.changes
        # The build-time predictor is perfect here: the workload's own build time of the head.
        return ValueSpeculator(
            scorer,
            ValueSettings(budget=capacity),
            build_cost=lambda b: float(changes[self.change_of[b.id]].build_ms),
            clock=lambda: self.now,
        )

    def _analyzer(self) -> ConflictAnalyzer:
        if self.workload.spec.conflict.kind is ConflictKind.FOLDER:
            changes = self.workload.changes
            return PathOverlapConflictAnalyzer(
                lambda b: changes[self.change_of[b.id]].files(), Granularity.DIRECTORY, depth=1
            )
        return PairwiseConflictAnalyzer(self.workload, self.change_of)

    def _scorer(self, kind: ScorerKind) -> Scorer:
        if kind is ScorerKind.CONSTANT:
            return ConstantScorer(1.0 - self.workload.spec.failure_probability)
        if kind is ScorerKind.RATE:
            return _RateScorer(self.workload, self.change_of)
        # The same prior mean as the constant scorer's: the comparison is then what learning adds.
        config = HistoryConfig(prior_mean=1.0 - self.workload.spec.failure_probability)
        self.history = HistoryScorer(self._features, MemoryOutcomeStore(), config)
        if kind is ScorerKind.HISTORY_WARM:
            for change in prehistory(self.workload.spec, self.workload.seed, WARM_OUTCOMES):
                self.history.record(
                    BatchOutcome(
                        batch_id=batch_id("prehistory", change.index + 1),
                        features=_features_of(change),
                        succeeded=change.good,
                        recorded_at_ms=0,
                    )
                )
        return self.history

    def _features(self, batch: Batch) -> BatchFeatures:
        return _features_of(self.workload.changes[self.change_of[batch.id]])

    def run(self) -> None:
        events = self.events
        while events and events.next_time() <= self.workload.horizon_ms:
            now, due = events.pop_instant()
            self.now = now
            for event in due:
                if isinstance(event, Arrival):
                    self._analyze(event.change)
                elif isinstance(event, Finished):
                    self._observe(event.build_id, now)
            for _ in range(MAX_RUNS_PER_INSTANT):
                if not self._speculate_run(now):
                    break
            else:
                raise RuntimeError(f"speculate runs did not settle at {now} ms")

    def _analyze(self, change: int) -> None:
        """Dependency analysis: create the batch and depend on every conflicting one in flight."""
        bid = batch_id(QUEUE, len(self.batches) + 1)
        self.change_of[bid] = change
        candidate = Batch(
            id=bid, queue=QUEUE, contains=(RequestID(self.workload.changes[change].name),)
        )
        in_flight = [
            self.batches[b] for b in self.active if self.batches[b].state in DEPENDENCY_STATES
        ]
        if self.workload.changes[change].high:
            candidate = dataclasses.replace(candidate, priority=Priority.HIGH)
        conflicting = dependency_ids(self.analyzer.analyze(candidate, in_flight))
        deps, overtakes = priority.split_conflicts(candidate, conflicting, in_flight)
        self.batches[bid] = dataclasses.replace(
            candidate, dependencies=deps, overtakes=overtakes, state=BatchState.CREATED, version=2
        )
        self.active.append(bid)

    def _observe(self, build_id: int, now: int) -> None:
        """A build ended: record it where the next fold reads it (buildsignal)."""
        passed = finish_build(self.workload, self.ledger, build_id, now)
        if passed is None:
            return  # stopped on request earlier; already recorded as cancelled
        attempt = self.attempt_of[build_id]
        status = BuildStatus.SUCCEEDED if passed else BuildStatus.FAILED
        self.builds[attempt] = dataclasses.replace(self.builds[attempt], status=status)

    def _speculate_run(self, now: int) -> bool:
        """One speculate run and the stages it feeds; whether another run is due at this instant."""
        self.runs += 1
        snapshot, dirty = self._read(now)
        done = finalize(
            snapshot, now_ms=now, dirty=frozenset(dirty), early_landing=self.early_landing
        )
        snapshot = done.snapshot
        for path_set in snapshot.path_sets:
            self.sets[path_set.head] = path_set
        for outcome in done.committed:
            self._set_state(outcome.head, outcome.new_state)
        proposals: Sequence[Speculation] = ()
        if done.open_heads:
            proposals = self.speculator.speculate(snapshot)
        self._dispatch(check_proposals(snapshot, proposals).accepted, now)
        self._start_pending(now)
        woke = self._stop_cancelling(now)
        for outcome in done.committed:
            if outcome.kind is OutcomeKind.MERGE:
                self._land(outcome.head, outcome.winner, now)
                woke = True  # landed, or outdated and back to speculating
            elif outcome.kind is OutcomeKind.FAIL:
                self._conclude_failed(outcome.head, now)
        self.active = [b for b in self.active if not is_terminal(self.batches[b].state)]
        return woke

    def _read(self, now: int) -> tuple[SpeculationSnapshot, set[BatchID]]:
        """Read, fold and admit (speculation-spec §3.2-3.3)."""
        in_flight: list[Batch] = []
        for bid in self.active:
            if self.batches[bid].state is BatchState.CREATED:
                self._set_state(bid, BatchState.SPECULATING)
            in_flight.append(self.batches[bid])
        known = {b.id for b in in_flight}
        facts: list[Batch] = []
        for batch in in_flight:
            for dep in batch.dependencies:
                if dep not in known:
                    known.add(dep)
                    facts.append(self.batches[dep])
        dirty: set[BatchID] = set()
        sets: list[PathSet] = []
        for batch in in_flight:
            path_set = self.sets.get(batch.id)
            if path_set is None:
                continue
            path_set, changed = fold_path_set(
                path_set, self.builds, now, flaky_retries=self.flaky_retries
            )
            if changed:
                dirty.add(batch.id)
            sets.append(path_set)
        return SpeculationSnapshot(batches=(*in_flight, *facts), path_sets=tuple(sets)), dirty

    def _set_state(self, bid: BatchID, state: BatchState) -> None:
        batch = self.batches[bid]
        self.batches[bid] = dataclasses.replace(batch, state=state, version=batch.version + 1)

    def _dispatch(self, accepted: Sequence[Speculation], now: int) -> None:
        by_head: dict[BatchID, list[Speculation]] = {}
        for proposal in accepted:
            by_head.setdefault(proposal.path.head, []).append(proposal)
        for head, proposals in by_head.items():
            path_set = self.sets.get(head) or PathSet(queue=QUEUE, head=head)
            self.sets[head], _ = apply_proposals(path_set, proposals, now)

    def _start_pending(self, now: int) -> None:
        """The build stage: trigger every pending path of a speculating head not yet linked."""
        for bid in self.active:
            path_set = self.sets.get(bid)
            if path_set is None or self.batches[bid].state is not BatchState.SPECULATING:
                continue
            started = False
            for entry in path_set.paths:
                if entry.status is not PathStatus.PENDING:
                    continue
                attempt = entry.execution
                if attempt in self.builds:
                    continue
                started = True
                base = tuple(self.change_of[d] for d in entry.path.base())
                included = (*base, self.change_of[bid])
                build_id = start_build(self.workload, self.ledger, self.events, included, now)
                self.ledger_build[attempt] = build_id
                self.attempt_of[build_id] = attempt
                self.builds[attempt] = Build(
                    id=BuildID(f"build/{build_id}"),
                    batch_id=bid,
                    path_id=entry.id,
                    attempt=entry.attempt,
                    status=BuildStatus.RUNNING,
                )
            if started:
                # What the next speculate run would fold, stamped with the build's real start
                # (the next run may be minutes away): a preemption weighs how long it has run.
                self.sets[bid], _ = fold_path_set(path_set, self.builds, now)

    def _stop_cancelling(self, now: int) -> bool:
        """The poll loop: stop the build of every `cancelling` path; whether any was stopped."""
        stopped = False
        for bid in self.active:
            path_set = self.sets.get(bid)
            for entry in path_set.paths if path_set else ():
                if entry.status is not PathStatus.CANCELLING:
                    continue
                build = self.builds.get(entry.execution)
                if build is None or is_build_terminal(build.status):
                    continue
                self.ledger.cancel_build(self.ledger_build[entry.execution], now)
                self.builds[entry.execution] = dataclasses.replace(
                    build, status=BuildStatus.CANCELLED
                )
                stopped = True
        return stopped

    def _land(self, head: BatchID, winner: PathID | None, now: int) -> None:
        """The merge stage and mergesignal: the winning path's tree lands, the batch succeeds;
        or runway finds it outdated, and the path gets a new attempt on the target as it is."""
        path_set = self.sets[head]
        entry = next(e for e in path_set.paths if e.id == winner)
        build_id = self.ledger_build[entry.execution]
        if self._outdated(head, build_id):
            self.outdated += 1
            again = dataclasses.replace(
                entry.with_status(PathStatus.PENDING, now), attempt=entry.attempt + 1
            )
            self.sets[head] = path_set.with_entry(again)
            self._set_state(head, BatchState.SPECULATING)
            return
        self.ledger.land((self.change_of[head],), build_id, now)
        self._set_state(head, BatchState.SUCCEEDED)
        self._record(head, succeeded=True, now=now)

    def _outdated(self, head: BatchID, build_id: int) -> bool:
        """Runway's exact-tree check: a conflicting change landed since the build's master that
        the build did not include (an early landing or a priority batch overtook this one)."""
        build = self.ledger.builds[build_id]
        near = self.workload.neighbors(self.change_of[head]) - set(build.included)
        return any(
            not near.isdisjoint(landing.changes)
            for landing in self.ledger.landings[build.master_landings :]
        )

    def _conclude_failed(self, head: BatchID, now: int) -> None:
        self.ledger.reject(self.change_of[head], now)
        self._record(head, succeeded=False, now=now)

    def _record(self, head: BatchID, *, succeeded: bool, now: int) -> None:
        if self.history is not None:
            outcome = BatchOutcome(
                batch_id=head,
                features=self._features(self.batches[head]),
                succeeded=succeeded,
                recorded_at_ms=now,
            )
            self.history.record(outcome)
