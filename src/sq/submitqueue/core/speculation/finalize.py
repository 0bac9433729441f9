"""Finalize: the controller's verdicts for one run, cascaded to a fixed point (spec §3.4).

`finalize_steps` is a generator so that any caller, sync or async, can commit each outcome before
anything is derived from it: it yields an `Outcome`, and the caller sends back whether the outcome
was committed (its path set, if it must be persisted, and its state write both landed). An outcome
that was not committed is dropped: the head is neither decided nor open, and the next run re-reads.
`finalize` drives the generator with a plain callback; the default commits everything, which is
what the simulator and `sq speculate plan` want.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Generator
from dataclasses import dataclass

from sq.submitqueue.core.speculation import pending, priority, rules
from sq.submitqueue.core.speculation.waiting import WaitMemo
from sq.submitqueue.entity.batch import BatchID, BatchState
from sq.submitqueue.entity.finished import Finished, IndexedStates
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot

FAILURE_REASON = "no speculation path could pass; every candidate build failed"


class OutcomeKind(enum.StrEnum):
    MERGE = "merge"
    FAIL = "fail"
    CANCEL = "cancel"


NEW_STATE = {
    OutcomeKind.MERGE: BatchState.MERGING,
    OutcomeKind.FAIL: BatchState.FAILED,
    OutcomeKind.CANCEL: BatchState.CANCELLED,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A verdict to commit: persist `path_set` first when `persist_path_set`, then move the head
    to `new_state`; only then enact it (merge dispatch, or conclude with `failure_reason`)."""

    head: BatchID
    kind: OutcomeKind
    new_state: BatchState
    path_set: PathSet | None
    persist_path_set: bool
    winner: PathID | None = None
    failure_reason: str | None = None


class EventKind(enum.StrEnum):
    WAITING = "waiting"  # a passed path is ready; the head waits for its dependencies
    INVALIDATED = "invalidated"  # the passed path the head had is no longer consistent
    PENDING_FAILURE = "pending-failure"  # every build failed; a dependent may still carry it


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestEvent:
    head: BatchID
    kind: EventKind
    path_id: PathID


@dataclass(frozen=True, slots=True, kw_only=True)
class Finalization:
    """Where the run stands after finalize.

    `snapshot` carries committed failures and cancellations as states and every cancel mark in its
    path sets (a committed persist bumps the set's version). `open_heads` are the heads left for the
    Speculator; when empty, skip it. `dirty` are heads whose set changed and still has to be
    persisted by dispatch.
    """

    snapshot: SpeculationSnapshot
    committed: tuple[Outcome, ...]
    open_heads: tuple[BatchID, ...]
    dirty: frozenset[BatchID]
    events: tuple[RequestEvent, ...]


def finalize_steps(
    snapshot: SpeculationSnapshot,
    *,
    now_ms: int,
    dirty: frozenset[BatchID] = frozenset(),
    early_landing: bool = False,
    pending_failure_depth: int = 0,
    memo: WaitMemo | None = None,
) -> Generator[Outcome, bool, Finalization]:
    """Cancellations first, then merge/fail verdicts over the open heads until none is decided.

    With `early_landing`, a head whose passed paths cover every outcome of its unfinished
    dependencies merges ahead of them (`rules.covering_path`, doc/speculation.md). With a
    `pending_failure_depth` of N, a head with no viable future waits while one of its first N
    dependents may still carry it, and a dependent whose passed build carries it merges
    (`pending.pending_failure`, doc/controls.md).

    A `memo` (ignored with `early_landing`) carries the heads left waiting from one call to the
    next, for a caller that finalizes successive snapshots of one queue (`waiting.WaitMemo`).
    """
    run = _Run(snapshot, set(dirty))
    for batch in snapshot.in_flight:
        if batch.state is not BatchState.CANCELLING:
            continue
        path_set = run.sets.get(batch.id)
        if path_set is not None:
            run.replace_set(batch.id, *rules.cancel_all(path_set, now_ms))
        if rules.all_paths_stopped(run.sets.get(batch.id)):
            yield from run.commit(batch.id, OutcomeKind.CANCEL)

    open_heads = [b.id for b in snapshot.in_flight if b.state is BatchState.SPECULATING]
    if early_landing:
        memo = None
    if memo is not None:
        memo.begin(open_heads)
    while True:
        decided = 0
        still_open: list[BatchID] = []
        for head_id in open_heads:
            if head_id in run.merging:  # merged this pass, carrying a failed head
                continue
            head = snapshot.batch(head_id)
            assert head is not None
            state_of = run.states
            path_set = run.sets.get(head_id)
            if memo is not None:
                waited = memo.still_waiting(head, path_set, state_of.finished)
                if waited is not None:
                    if waited.event is not None:
                        run.events.append(waited.event)
                    still_open.append(head_id)
                    continue
            had_passed = _first_passed(path_set)
            if path_set is not None:
                run.replace_set(head_id, *rules.cancel_broken(path_set, state_of, now_ms))
                path_set = run.sets[head_id]
            verdict = rules.decide(
                head, path_set, state_of, early_landing=early_landing, overtaken=run.overtaken
            )
            decision = _held(verdict, run.snapshot, head_id)
            event = run.report(head_id, decision, had_passed, path_set)
            if memo is not None:
                if verdict.verdict is rules.Verdict.WAIT:
                    memo.remember(head, path_set, state_of.finished, event)
                else:
                    memo.forget(head_id)
            if decision.verdict is rules.Verdict.FAIL and pending_failure_depth > 0:
                held = run.hold(head_id, pending_failure_depth)
                if held.hold is pending.Hold.CARRY:
                    decided += yield from run.carry(held, now_ms)
                if held.hold is not pending.Hold.NONE:
                    decision = rules.Decision(verdict=rules.Verdict.WAIT)
                    run.held(head_id, path_set)
            if decision.verdict is rules.Verdict.WAIT:
                still_open.append(head_id)
                continue
            if decision.verdict is rules.Verdict.MERGE:
                assert decision.winner is not None
                assert path_set is not None
                run.replace_set(head_id, *rules.supersede(path_set, decision.winner.id, now_ms))
                committed = yield from run.commit(head_id, OutcomeKind.MERGE, decision.winner.id)
            else:
                committed = yield from run.commit(head_id, OutcomeKind.FAIL)
            if committed:
                decided += 1
        open_heads = [h for h in still_open if h not in run.merging]
        if decided == 0:
            break
    return Finalization(
        snapshot=run.snapshot.with_path_sets(run.sets),
        committed=tuple(run.committed),
        open_heads=tuple(open_heads),
        dirty=frozenset(run.dirty),
        events=tuple(dict.fromkeys(run.events)),
    )


def _always(outcome: Outcome) -> bool:
    return True


def finalize(
    snapshot: SpeculationSnapshot,
    *,
    now_ms: int,
    dirty: frozenset[BatchID] = frozenset(),
    commit: Callable[[Outcome], bool] = _always,
    early_landing: bool = False,
    pending_failure_depth: int = 0,
    memo: WaitMemo | None = None,
) -> Finalization:
    """Run `finalize_steps` to the end, committing each outcome with `commit`."""
    steps = finalize_steps(
        snapshot,
        now_ms=now_ms,
        dirty=dirty,
        early_landing=early_landing,
        pending_failure_depth=pending_failure_depth,
        memo=memo,
    )
    try:
        outcome = next(steps)
        while True:
            outcome = steps.send(commit(outcome))
    except StopIteration as done:
        result: Finalization = done.value
        return result


class _Run:
    def __init__(self, snapshot: SpeculationSnapshot, dirty: set[BatchID]) -> None:
        self.snapshot = snapshot
        self.sets = {s.head: s for s in snapshot.path_sets}
        self.dirty = dirty
        self.committed: list[Outcome] = []
        self.events: list[RequestEvent] = []
        self.merging: set[BatchID] = set()
        finished = Finished.of({b.id: b.state for b in snapshot.batches})
        self.states = IndexedStates(self.state_of, finished)  # the rules' fast path

    def state_of(self, batch_id: BatchID) -> BatchState:
        # A head merged by this run is `merging` to the rules, though the snapshot handed to the
        # Speculator still reads `speculating` (spec §3.5): unsettled either way, and no
        # dependent lands ahead of it (`rules.covering_path`).
        if batch_id in self.merging:
            return BatchState.MERGING
        return self.snapshot.state_of(batch_id)

    def overtaken(self, batch_id: BatchID) -> bool:
        return rules.built_again(self.sets.get(batch_id))

    def hold(self, head: BatchID, depth: int) -> pending.Pending:
        dependents = pending.dependents_of(head, self.snapshot.in_flight)
        held = pending.pending_failure(head, dependents, self.sets, self.state_of, depth)
        if held.carrier is not None and priority.held_by(self.snapshot, held.carrier):
            return pending.Pending(hold=pending.Hold.WAIT)  # it merges once the lane clears
        return held

    def carry(self, held: pending.Pending, now_ms: int) -> Generator[Outcome, bool, int]:
        """Merge the carrier on its marked winner, the failed head inside its landing."""
        assert held.carrier is not None
        assert held.winner is not None
        path_set = self.sets[held.carrier].with_entry(held.winner)
        self.replace_set(held.carrier, *rules.supersede(path_set, held.winner.id, now_ms))
        self.dirty.add(held.carrier)
        committed = yield from self.commit(held.carrier, OutcomeKind.MERGE, held.winner.id)
        return int(committed)

    def held(self, head: BatchID, path_set: PathSet | None) -> None:
        """Reported once per failed path (the log dedups on it) while the head is held."""
        if path_set is not None and path_set.paths:
            failed = path_set.paths[0].id
            self.events.append(
                RequestEvent(head=head, kind=EventKind.PENDING_FAILURE, path_id=failed)
            )

    def replace_set(self, head: BatchID, path_set: PathSet, changed: bool) -> None:
        self.sets[head] = path_set
        if changed:
            self.dirty.add(head)

    def report(
        self,
        head: BatchID,
        decision: rules.Decision,
        had_passed: PathEntry | None,
        path_set: PathSet | None,
    ) -> RequestEvent | None:
        """Record and return the head's event, if it has one."""
        live = rules.live_passed_path(path_set, self.states)
        event = None
        if live is not None and decision.verdict is rules.Verdict.WAIT:
            event = RequestEvent(head=head, kind=EventKind.WAITING, path_id=live.id)
        elif live is None and had_passed is not None:
            event = RequestEvent(head=head, kind=EventKind.INVALIDATED, path_id=had_passed.id)
        if event is not None:
            self.events.append(event)
        return event

    def commit(
        self, head: BatchID, kind: OutcomeKind, winner: PathID | None = None
    ) -> Generator[Outcome, bool, bool]:
        path_set = self.sets.get(head)
        persist = head in self.dirty
        outcome = Outcome(
            head=head,
            kind=kind,
            new_state=NEW_STATE[kind],
            path_set=path_set,
            persist_path_set=persist,
            winner=winner,
            failure_reason=FAILURE_REASON if kind is OutcomeKind.FAIL else None,
        )
        committed = yield outcome
        self.dirty.discard(head)  # persisted, or dropped after a lost race: either way not dirty
        if not committed:
            return False
        if persist and path_set is not None:
            self.sets[head] = dataclasses.replace(path_set, version=path_set.version + 1)
        if kind is OutcomeKind.MERGE:  # merging is not terminal: dependents still wait on it
            self.merging.add(head)
        else:
            self.snapshot = self.snapshot.with_state(head, NEW_STATE[kind])
            self.states.finished = self.states.finished.with_state(head, NEW_STATE[kind])
        self.committed.append(outcome)
        return True


def _held(decision: rules.Decision, snapshot: SpeculationSnapshot, head: BatchID) -> rules.Decision:
    """A merge waits while a high-priority batch that overtakes the head is in flight."""
    if decision.verdict is rules.Verdict.MERGE and priority.held_by(snapshot, head) is not None:
        return rules.Decision(verdict=rules.Verdict.WAIT)
    return decision


def _first_passed(path_set: PathSet | None) -> PathEntry | None:
    return (
        next((e for e in path_set.paths if e.status is PathStatus.PASSED), None)
        if path_set
        else None
    )
