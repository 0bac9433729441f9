"""Our queue: the real speculation engine, driven the way the controllers drive it.

On arrival a change becomes a one-request batch whose dependencies are what a real conflict
analyzer reports against the batches in flight (dependency analysis). Then, at every instant
something happened, speculate runs are made until the queue is quiet: fold finished builds into
the path sets, admit, `finalize`, ask the Speculator (`ValueSpeculator` by default,
`StandardSpeculator` for `ours-standard`), `check_proposals`,
`apply_proposals`. The build stage starts each pending path at once; a `cancelling` path has its
build stopped at once; a batch that finalize moved to `merging` lands at once. Only those three
stages, and the clock, are simulated here: every decision is the engine's.

With a batch policy (`ours+batch`, doc/batching.md) arrivals first wait in a waiting room:
`core/batching.form` decides which close now (the rest wake the queue when they must go), a closed
group becomes one batch of several requests, its build includes every member and lands them in one
push, and a failed batch of several is split and its parts analysed again like new arrivals.

Landing is exact as runway makes it (doc/speculation.md): a build whose head conflicts with a
change that landed after the build started and that the build did not include is `outdated`,
and its path is built again on the target as it is. Without early landing that never happens
(a conflicting change is a dependency, built under the head or failed); with it, a dependency
that a covered head landed ahead of is built again before it lands.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import math
from collections.abc import Sequence

from sq.sim.ledger import Ledger
from sq.sim.strategies import Arrival, Finished, arrivals, finish_build, start_build
from sq.sim.workload import MINUTE_MS, Change, ConflictKind, Workload, prehistory
from sq.submitqueue.core import batching
from sq.submitqueue.core.batching import BatchPolicy, DeepBatching, Waiting
from sq.submitqueue.core.speculation import priority
from sq.submitqueue.core.speculation.check import check_proposals
from sq.submitqueue.core.speculation.dispatch import apply_proposals
from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize
from sq.submitqueue.core.speculation.fold import fold_path_set
from sq.submitqueue.core.speculation.waiting import WaitMemo
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
from sq.submitqueue.extension.scorer.members import MemberProductScorer
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
        scorer: ScorerKind | Scorer = ScorerKind.CONSTANT,
        speculator: SpeculatorKind = SpeculatorKind.VALUE,
        *,
        early_landing: bool = False,
        exact_trees: bool = False,
        flaky_retries: int = 0,
        batching: BatchPolicy | None = None,
        deep_load: float | None = None,
        name: str | None = None,
    ) -> None:
        """`flaky_retries` is the queue's setting of that name: a failed build is built again
        that many times before the failure counts (the workload's `flaky_rate` makes flakes).
        `batching` is the queue's batch policy (doc/batching.md); None or `max_size` 1 builds
        every request as its own batch. `deep_load` adds deep batching (`DeepBatching`'s
        defaults: pairs, no dependency cap) from `deep_load` x `capacity` arrivals per build time
        of the workload, as the service's `batching.deep.load` does with its build budget.
        `scorer` may be a Scorer of the caller's (tests), which then scores each request as a
        one-request batch."""
        self.capacity = capacity
        self.scorer = scorer
        self.speculator = speculator
        self.early_landing = early_landing
        self.exact_trees = exact_trees
        self.flaky_retries = flaky_retries
        self.batching = batching or BatchPolicy()
        self.deep_load = deep_load
        if name is None:
            kind = scorer if isinstance(scorer, ScorerKind) else ScorerKind.CONSTANT
            name = "ours" if kind is ScorerKind.CONSTANT else f"ours+{kind.value}"
            name = name if speculator is SpeculatorKind.VALUE else f"{name}-{speculator.value}"
            name = f"{name}+early" if early_landing else name
            name = f"{name}+exact" if exact_trees else name
            name = f"{name}+retry{flaky_retries}" if flaky_retries else name
        self.name = name

    def run(self, workload: Workload, ledger: Ledger) -> None:
        policy = self.batching
        if self.deep_load is not None:
            deep = DeepBatching(
                build_time_ms=round(workload.spec.build_minutes * MINUTE_MS),
                arrivals=self.deep_load * self.capacity,
            )
            policy = dataclasses.replace(policy, deep=deep)
        queue = _EngineQueue(workload, ledger, self.capacity, self.scorer, self.speculator, policy)
        queue.early_landing = self.early_landing
        queue.exact_trees = self.exact_trees
        queue.flaky_retries = self.flaky_retries
        queue.run()


class PairwiseConflictAnalyzer:
    """The simulator's stand-in for a target analyzer: asks the workload which changes overlap.
    Two batches conflict when any member of one conflicts with any member of the other."""

    def __init__(self, workload: Workload, members_of: dict[BatchID, tuple[int, ...]]) -> None:
        self._workload = workload
        self._members_of = members_of

    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]:
        near = frozenset[int]().union(
            *(self._workload.neighbors(c) for c in self._members_of[candidate.id])
        )
        return [
            Conflict(batch_id=b.id, type=ConflictType.TARGET_OVERLAP)
            for b in in_flight
            if not near.isdisjoint(self._members_of[b.id])
        ]


def _features_of(change: Change) -> BatchFeatures:
    return BatchFeatures(
        author=change.author, areas=frozenset(change.areas), lines_changed=change.lines_changed
    )


class _RateScorer:
    """P(lands) = 1 - the rate the change was drawn bad with: the best any per-author-and-folder
    model could learn, the ceiling a learned scorer is measured against (it never sees outcomes).
    A batch of several: the product over its members."""

    def __init__(self, workload: Workload) -> None:
        self._changes = workload.changes

    def score(self, batch: Batch) -> float:
        return math.prod(1.0 - self._changes[_index(r)].bad_rate for r in batch.contains)


class _EngineQueue:
    def __init__(
        self,
        workload: Workload,
        ledger: Ledger,
        capacity: int,
        scorer: ScorerKind | Scorer,
        speculator: SpeculatorKind,
        policy: BatchPolicy | None = None,
    ) -> None:
        self.workload = workload
        self.ledger = ledger
        self.policy = policy or BatchPolicy()
        self.batches: dict[BatchID, Batch] = {}
        self.members_of: dict[BatchID, tuple[int, ...]] = {}  # changes, in queue order
        self.singles: dict[BatchID, tuple[Batch, ...]] = {}  # a multi-member batch's members
        self.single_of: dict[int, Batch] = {}  # a change as a one-request batch, for scoring
        self.waiting: list[Waiting] = []  # the waiting room: validated, not yet in a batch
        self.arrivals: collections.deque[int] = collections.deque()  # over one build time
        self.wake_at: int | None = None
        self.splits: list[tuple[BatchID, tuple[BatchID, ...], int]] = []
        """History of every split: the failed batch, the new batches, the build that failed."""
        self.active: list[BatchID] = []  # in-flight batches, in listing (creation) order
        self.sets: dict[BatchID, PathSet] = {}
        self.folded: dict[BatchID, PathSet] = {}
        """Each head's set as the last `_read` folded it: folding it again changes nothing while it
        is still the set in `sets` and none of its builds changed (see `_read`)."""
        self.rebuilt: set[BatchID] = set()  # heads whose builds changed since `_read` folded them
        self.waits = WaitMemo()  # finalize's waiting heads, from one run to the next
        self.builds: dict[PathAttempt, Build] = {}
        self.ledger_build: dict[PathAttempt, int] = {}
        self.attempt_of: dict[int, PathAttempt] = {}
        self.history: HistoryScorer | None = None
        self.analyzer = self._analyzer()
        self.now = 0
        self.scorer = MemberProductScorer(self._scorer(scorer))
        self.speculator: Speculator = self._speculator(speculator, self.scorer, capacity)
        self.events = arrivals(workload)
        self.runs = 0
        self.early_landing = False
        self.exact_trees = False
        self.outdated = 0
        self.flaky_retries = 0

    def _speculator(self, kind: SpeculatorKind, scorer: Scorer, capacity: int) -> Speculator:
        if kind is SpeculatorKind.STANDARD:
            return StandardSpeculator(scorer, capacity)
        changes = self.workload.changes
        costs: dict[BatchID, float] = {}  # a batch's members never change: nor does its cost

        def build_cost(batch: Batch) -> float:
            cost = costs.get(batch.id)
            if cost is None:
                cost = costs[batch.id] = float(
                    max(changes[c].build_ms for c in self.members_of[batch.id])
                )
            return cost

        # The build-time predictor is perfect here: the workload's own build time of the head
        # (a batch's build takes as long as its slowest member).
        return ValueSpeculator(
            scorer, ValueSettings(budget=capacity), build_cost=build_cost, clock=lambda: self.now
        )

    def _analyzer(self) -> ConflictAnalyzer:
        if self.workload.spec.conflict.kind is ConflictKind.FOLDER:
            changes = self.workload.changes
            return PathOverlapConflictAnalyzer(
                lambda b: tuple(f for c in self.members_of[b.id] for f in changes[c].files()),
                Granularity.DIRECTORY,
                depth=1,
            )
        return PairwiseConflictAnalyzer(self.workload, self.members_of)

    def _scorer(self, kind: ScorerKind | Scorer) -> Scorer:
        if not isinstance(kind, ScorerKind):
            return kind
        if kind is ScorerKind.CONSTANT:
            return ConstantScorer(1.0 - self.workload.spec.failure_probability)
        if kind is ScorerKind.RATE:
            return _RateScorer(self.workload)
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
        return _features_of(self.workload.changes[_index(batch.contains[0])])

    def run(self) -> None:
        events = self.events
        horizon = self.workload.horizon_ms
        while True:
            at = events.next_time() if events else None
            if self.wake_at is not None and (at is None or self.wake_at < at):
                at = self.wake_at  # the waiting room's oldest request must be batched now
            if at is None or at > horizon:
                break
            due: list[Arrival | Finished] = []
            if events and events.next_time() == at:
                _, due = events.pop_instant()
            self.now = now = at
            for event in due:
                if isinstance(event, Arrival):
                    self._arrive(event.change, now)
                elif isinstance(event, Finished):
                    self._observe(event.build_id, now)
            self._form(now)
            for _ in range(MAX_RUNS_PER_INSTANT):
                if not self._speculate_run(now):
                    break
            else:
                raise RuntimeError(f"speculate runs did not settle at {now} ms")

    def _single(self, change: int) -> Batch:
        """`change` as a one-request batch: what the scorer scores for each member of a batch."""
        single = self.single_of.get(change)
        if single is None:
            single = Batch(
                id=BatchID(f"{QUEUE}/request/{change}"),
                queue=QUEUE,
                contains=(RequestID(self.workload.changes[change].name),),
            )
            self.single_of[change] = single
            self.members_of[single.id] = (change,)
        return single

    def _alone(self, request: RequestID) -> Batch:
        return self._single(_index(request))

    def _depth(self, now: int) -> BatchPolicy:
        """The rules formation follows now: `BatchPolicy.at` the arrivals over the last build
        time (the batch stage counts them in storage)."""
        deep = self.policy.deep
        if deep is None:
            return self.policy
        arrivals = self.arrivals
        while arrivals and arrivals[0] <= now - deep.build_time_ms:
            arrivals.popleft()
        return self.policy.at(len(arrivals))

    def _in_flight(self) -> list[Batch]:
        """What a new batch may depend on (dependency analysis' in-flight list)."""
        return [self.batches[b] for b in self.active if self.batches[b].state in DEPENDENCY_STATES]

    def _probability(self, change: int) -> float:
        return self.scorer.score(self._single(change))

    def _arrive(self, change: int, now: int) -> None:
        """A validated request enters the waiting room (it is batched by `_form`)."""
        c = self.workload.changes[change]
        self.waiting.append(
            Waiting(
                request=RequestID(c.name),
                since_ms=now,
                probability=self._probability(change) if self.policy.enabled else 1.0,
                priority=Priority.HIGH if c.high else Priority.NORMAL,
            )
        )
        if self.policy.deep is not None:
            self.arrivals.append(now)

    def _form(self, now: int) -> None:
        """The batch stage: close what the policy closes now, wake up when the rest must go."""
        if not self.waiting:
            self.wake_at = None
            return
        policy = self._depth(now)
        if policy.asks_conflicts:
            self.waiting = batching.with_conflicts(
                self.waiting, self.analyzer, self._in_flight(), self._alone
            )
        formed = batching.form(self.waiting, policy, now)
        for group in formed.closed:
            self._analyze(tuple(_index(r) for r in group))
        self.waiting = list(formed.waiting)
        self.wake_at = formed.wake_at_ms

    def _analyze(self, members: tuple[int, ...]) -> BatchID:
        """Dependency analysis: create the batch and depend on every conflicting one in flight."""
        bid = batch_id(QUEUE, len(self.batches) + 1)
        changes = self.workload.changes
        self.members_of[bid] = members
        if len(members) > 1:
            self.singles[bid] = tuple(self._single(c) for c in members)
        candidate = Batch(
            id=bid, queue=QUEUE, contains=tuple(RequestID(changes[c].name) for c in members)
        )
        in_flight = self._in_flight()
        if any(changes[c].high for c in members):
            candidate = dataclasses.replace(candidate, priority=Priority.HIGH)
        conflicting = dependency_ids(self.analyzer.analyze(candidate, in_flight))
        deps, overtakes = priority.split_conflicts(candidate, conflicting, in_flight)
        self.ledger.note_dependencies(members, len(deps))
        self.batches[bid] = dataclasses.replace(
            candidate, dependencies=deps, overtakes=overtakes, state=BatchState.CREATED, version=2
        )
        self.active.append(bid)
        return bid

    def _observe(self, build_id: int, now: int) -> None:
        """A build ended: record it where the next fold reads it (buildsignal)."""
        passed = finish_build(self.workload, self.ledger, build_id, now)
        if passed is None:
            return  # stopped on request earlier; already recorded as cancelled
        attempt = self.attempt_of[build_id]
        status = BuildStatus.SUCCEEDED if passed else BuildStatus.FAILED
        build = self.builds[attempt]
        self.builds[attempt] = dataclasses.replace(build, status=status)
        self.rebuilt.add(build.batch_id)

    def _speculate_run(self, now: int) -> bool:
        """One speculate run and the stages it feeds; whether another run is due at this instant."""
        self.runs += 1
        snapshot, dirty = self._read(now)
        done = finalize(
            snapshot,
            now_ms=now,
            dirty=frozenset(dirty),
            early_landing=self.early_landing,
            memo=self.waits,
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
                woke = self._conclude_failed(outcome.head, now) or woke
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
            # Folding is idempotent: a set this fold already produced, whose builds have not
            # changed since, folds to itself. Only the others are folded (most heads, most runs,
            # have neither a new entry nor a build that moved).
            if path_set is not self.folded.get(batch.id) or batch.id in self.rebuilt:
                path_set, changed = fold_path_set(
                    path_set, self.builds, now, flaky_retries=self.flaky_retries
                )
                if changed:
                    dirty.add(batch.id)
                self.folded[batch.id] = path_set
                self.rebuilt.discard(batch.id)
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
                base = tuple(c for d in entry.path.base() for c in self.members_of[d])
                members = self.members_of[bid]
                included = (*base, *members)
                build_id = start_build(
                    self.workload, self.ledger, self.events, included, now, heads=len(members)
                )
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
                self.rebuilt.add(bid)
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
                self.rebuilt.add(bid)
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
        self.ledger.land(self.members_of[head], build_id, now)  # one push, in queue order
        self._set_state(head, BatchState.SUCCEEDED)
        self._record(head, succeeded=True, now=now)

    def _outdated(self, head: BatchID, build_id: int) -> bool:
        """Runway's exact-tree check. By default only a conflicting change that landed since the
        build's master and that the build did not include makes it outdated (an early landing or
        a priority batch overtook this one): independent changes are taken to commute, as the
        conflict analyzer promises. With `exact_trees`, any such landing does, as the git
        merger's check answers: the landed tree must be the built one."""
        build = self.ledger.builds[build_id]
        if self.exact_trees:
            included = set(build.included)
            return any(
                not included.issuperset(landing.changes)
                for landing in self.ledger.landings[build.master_landings :]
            )
        near = frozenset[int]().union(
            *(self.workload.neighbors(c) for c in self.members_of[head])
        ) - set(build.included)
        return any(
            not near.isdisjoint(landing.changes)
            for landing in self.ledger.landings[build.master_landings :]
        )

    def _conclude_failed(self, head: BatchID, now: int) -> bool:
        """A batch failed on a base that came true. One member: it is the culprit, rejected.
        Several: the batch ends failed but its requests do not; `split` cuts the members in two
        parts, each a new batch at once (first part first), analysed like new arrivals. Returns
        whether batches were created (another speculate run is due)."""
        members = self.members_of[head]
        if len(members) == 1:
            self.ledger.reject(members[0], now)
            self._record(head, succeeded=False, now=now)
            return False
        names = self.batches[head].contains
        probabilities = [self._probability(c) for c in members]
        parts = batching.split(names, probabilities, self.policy.split)
        new = tuple(self._analyze(tuple(_index(r) for r in part)) for part in parts)
        self.splits.append((head, new, self._failed_build(head)))
        return True

    def _failed_build(self, head: BatchID) -> int:
        """The ledger build that failed `head` (the last of its paths' builds to fail)."""
        failed = [
            self.ledger_build[e.execution]
            for e in self.sets[head].paths
            if (b := self.builds.get(e.execution)) is not None and b.status is BuildStatus.FAILED
        ]
        return max(failed, key=lambda i: self.ledger.builds[i].end_ms or 0, default=-1)

    def _record(self, head: BatchID, *, succeeded: bool, now: int) -> None:
        if self.history is None:
            return
        for batch in self.singles.get(head, (self.batches[head],)):
            outcome = BatchOutcome(
                batch_id=batch.id,
                features=self._features(batch),
                succeeded=succeeded,
                recorded_at_ms=now,
            )
            self.history.record(outcome)


def _index(request: RequestID) -> int:
    """The change a simulated request names (`c12` is change 12)."""
    return int(request[1:])
