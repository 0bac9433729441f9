"""speculate: a run re-plans the whole queue from one read (speculation-spec §3).

Read once, in one transaction; admit `created` batches; finalize (merge, fail, cancel-complete),
committing each verdict before anything is derived from it; ask the queue's Speculator; check its
proposals; persist each changed path set under compare-and-swap; hand heads with pending paths to
build. A run is a function of the stored state it read, and signals are coalesced so that a burst
of them gets one run after it settles, not one per signal, and stages wake a queue with one pending
message per settle window (speculate_schedule.py): which futures get funded does not depend on how
the stages that signalled were interleaved.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections import defaultdict
from collections.abc import Coroutine, Generator, Sequence
from typing import Any

from sq.platform.errs import RetryableError, Subject, VersionMismatchError, attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id, unique_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.speculation.check import check_proposals
from sq.submitqueue.core.speculation.dispatch import (
    apply_proposals,
    dispatch_key,
    needs_dispatch,
)
from sq.submitqueue.core.speculation.finalize import (
    Finalization,
    Outcome,
    OutcomeKind,
    finalize_steps,
)
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, is_terminal
from sq.submitqueue.entity.pathset import PathSet
from sq.submitqueue.entity.proposal import Speculation
from sq.submitqueue.entity.request import is_request_halted
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator import SpeculatorError
from sq.submitqueue.orchestrator.controller.build import cancel_signals, signal_partition
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    db,
    decode,
    dispatch_merge,
    load_batch,
)
from sq.submitqueue.orchestrator.controller.speculate_read import Retry, read_snapshot
from sq.submitqueue.orchestrator.controller.speculate_schedule import (
    WAKE,
    Decision,
    RunSchedule,
    Wait,
    settle_ms_of,
)
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

OWN_KEPT = 10_000
"""Recovery signals remembered (they may be consumed by another process instead)."""


class SpeculateController:
    name = "speculate"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)
        self.schedule = RunSchedule(settle_ms_of(deps))
        self._own: set[str] = set()
        """Recovery signals published by runs that finished: nothing is left for them to do."""

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        if delivery.message_id in self._own:  # a finished run's recovery signal: it did the work
            self._own.discard(delivery.message_id)
            return
        when = self.schedule.decide(
            ref.queue, delivery.message.published_at_ms, self.deps.clock.now_ms()
        )
        if isinstance(when, Wait):
            delivery.hold(when.ms / 1000)
            return
        named = None if ref.id == WAKE else await load_batch(self.deps, ref.queue, ref.id)
        try:
            if named is not None:
                await self._recover(named)
            if when is Decision.RUN:
                await self.run(ref.queue, trigger=named.id if named else None)
        except SpeculatorError as exc:
            raise attribute(RetryableError(f"speculator failed: {exc}"), _queue(ref.queue)) from exc
        except Exception as exc:
            attribute(exc, _queue(ref.queue))
            raise

    async def _recover(self, named: Batch) -> None:
        """What a signal naming a batch asks beyond a run: finish the hand-off of a verdict
        whose writer may have stopped between committing it and publishing what follows."""
        if is_terminal(named.state):  # dedups against the one that ended it
            await self._publish(m.TOPIC_CONCLUDE, conclude_id(named), named)
        elif named.state is BatchState.CREATED:
            await self._admit([named])
        elif named.state is BatchState.MERGING:
            await dispatch_merge(self.log, named)

    async def run(self, queue: str, *, trigger: BatchID | None) -> None:
        """One run over `queue`; `trigger` (the batch its signal named, if any) only decides
        which heads need a recovery signal."""
        now = self.deps.clock.now_ms()
        await self._run(queue, trigger, now)
        self.schedule.ran(queue, now)

    async def _run(self, queue: str, trigger: BatchID | None, now: int) -> None:
        # This run's own: runs of other queues interleave with it in this process, and one that
        # finished must not vouch for the signals of one that may yet fail.
        signals: list[str] = []
        flaky_retries = self.deps.profiles.get(queue).flaky_retries
        read = await db(read_snapshot, self.deps.storage, queue, now, flaky_retries)
        snapshot, dirty = read.snapshot, read.dirty
        await self._report_retries(read.retries, snapshot)
        current = {b.id: b for b in snapshot.in_flight}
        admitted = await self._admit(
            [b for b in snapshot.in_flight if b.state is BatchState.CREATED]
        )
        current |= {b.id: b for b in admitted}
        if admitted:  # one copy of the snapshot, however many batches were admitted
            batches = tuple(current.get(b.id, b) for b in snapshot.batches)
            snapshot = dataclasses.replace(snapshot, batches=batches)
        profile = self.deps.profiles.get(queue)
        steps = finalize_steps(
            snapshot,
            now_ms=now,
            dirty=dirty,
            early_landing=profile.early_landing,
            pending_failure_depth=profile.pending_failure_depth,
        )
        done = await self._finalize(steps, current, trigger, signals)
        await self._report(done, current)
        funds = done.snapshot.funds_new_work  # False while the queue is paused
        proposals: list[Speculation] = []
        if done.open_heads and funds:
            speculator = self.deps.profiles.get(queue).speculator
            proposals = list(await db(speculator.speculate, done.snapshot))
        by_head: dict[BatchID, list[Speculation]] = defaultdict(list)
        for proposal in check_proposals(done.snapshot, proposals).accepted:
            by_head[proposal.path.head].append(proposal)
        planned: list[tuple[Batch, PathSet, bool]] = []
        for batch in done.snapshot.in_flight:
            path_set = done.snapshot.path_set(batch.id) or PathSet(queue=queue, head=batch.id)
            applied = False
            if funds:
                path_set, applied = apply_proposals(path_set, by_head.get(batch.id, ()), now)
            planned.append((batch, path_set, applied or batch.id in done.dirty))
        saved = iter(
            await db(self.deps.storage.save_path_sets, [p for _, p, save in planned if save])
        )
        builds: list[Coroutine[Any, Any, object]] = []
        for batch, path_set, save in planned:
            kept = next(saved) if save else path_set
            if kept is None:
                continue  # another run got there first; the next run re-plans
            if funds and needs_dispatch(kept):
                hand_off = intent_id(batch.id, "build", dispatch_key(kept))
                builds.append(self._publish(m.TOPIC_BUILD, hand_off, batch, partition=batch.id))
            halted = batch.state is BatchState.CANCELLING
            if save or halted:  # a build it wants stopped is told now, not at its next poll
                builds += self._stops(kept, halted=halted)
        await asyncio.gather(*builds)
        if len(self._own) > OWN_KEPT:
            self._own.clear()
        self._own.update(signals)

    def _stops(self, path_set: PathSet, *, halted: bool) -> list[Coroutine[Any, Any, object]]:
        """A stop signal to buildsignal for every build of `path_set` the run wants stopped."""
        return [
            self.ctx.publish(
                m.TOPIC_BUILDSIGNAL,
                signal_partition(build_id),
                message_id,
                m.EntityRef(id=build_id, queue=path_set.queue),
            )
            for build_id, message_id in cancel_signals(path_set, halted=halted)
        ]

    async def _finalize(
        self,
        steps: Generator[Outcome, bool, Finalization],
        current: dict[BatchID, Batch],
        trigger: BatchID | None,
        signals: list[str],
    ) -> Finalization:
        try:
            outcome = next(steps)
            while True:
                committed = await self._commit(outcome, current, trigger, signals)
                outcome = steps.send(committed)
        except StopIteration as stop:
            done: Finalization = stop.value
            return done

    async def _commit(
        self,
        outcome: Outcome,
        current: dict[BatchID, Batch],
        trigger: BatchID | None,
        signals: list[str],
    ) -> bool:
        batch = current[outcome.head]
        if outcome.head != trigger:  # so that recovery has a message naming it
            signal = unique_id(batch.id)
            await self._publish(m.TOPIC_SPECULATE, signal, batch)
            signals.append(signal)
        path_set = outcome.path_set if outcome.persist_path_set else None
        try:  # the verdict's path set and state in one transaction
            _, batch = await db(
                self.deps.storage.commit_verdict, path_set, batch, outcome.new_state
            )
        except VersionMismatchError:
            return False
        current[batch.id] = batch
        if outcome.kind is OutcomeKind.MERGE:
            await dispatch_merge(self.log, batch)
        else:
            meta = {"failure_reason": outcome.failure_reason} if outcome.failure_reason else None
            await self._publish(m.TOPIC_CONCLUDE, conclude_id(batch), batch, metadata=meta)
            if outcome.path_set is not None:  # a failed head leaves the in-flight set unsignalled
                await asyncio.gather(*self._stops(outcome.path_set, halted=True))
        return True

    async def _admit(self, batches: Sequence[Batch]) -> list[Batch]:
        """Move `created` batches to speculating, in one transaction; a batch whose request a
        cancel overtook during its creation is stopped instead. Returns those that moved."""
        if not batches:
            return []
        queue = batches[0].queue
        requests = await db(
            self.deps.storage.requests_of, queue, [r for b in batches for r in b.contains]
        )
        moves: list[tuple[Batch, BatchState]] = []
        logs = []
        for batch in batches:
            if any(
                (r := requests.get(request_id)) is None or is_request_halted(r.state)
                for request_id in batch.contains
            ):
                moves.append((batch, BatchState.CANCELLING))
                continue
            moves.append((batch, BatchState.SPECULATING))
            logs += [
                self.log.status(
                    request_id,
                    batch.queue,
                    "speculating",
                    occurrence=batch.id,
                    metadata={"batch_id": batch.id},
                )
                for request_id in batch.contains
            ]
        await asyncio.gather(*logs)
        moved = await db(self.deps.storage.transition_batches, moves)
        return [b for b in moved if b is not None]

    async def _report(self, done: Finalization, current: dict[BatchID, Batch]) -> None:
        for event in done.events:
            batch = current.get(event.head) or done.snapshot.batch(event.head)
            if batch is None:
                continue
            for request_id in batch.contains:
                await self.log.event(
                    request_id,
                    batch.queue,
                    event.kind.value,
                    occurrence=event.path_id,
                    metadata={"batch_id": batch.id, "path_id": event.path_id},
                )

    async def _report_retries(
        self, retries: tuple[Retry, ...], snapshot: SpeculationSnapshot
    ) -> None:
        """Each flaky retry in the history of the head's requests, once per new attempt."""
        for retry in retries:
            batch = snapshot.batch(retry.head)
            if batch is None:
                continue
            entry = retry.entry
            meta = {
                "batch_id": batch.id,
                "path_id": entry.id,
                "attempt": str(entry.attempt),
                "retry": str(entry.retried),
            }
            for request_id in batch.contains:
                await self.log.event(
                    request_id,
                    batch.queue,
                    "build-retried",
                    occurrence=f"{entry.id}/{entry.attempt}",
                    metadata=meta,
                )

    async def _publish(
        self,
        topic: str,
        message_id: str,
        batch: Batch,
        *,
        partition: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        await self.ctx.publish(
            topic,
            partition or batch.queue,
            message_id,
            m.EntityRef(id=batch.id, queue=batch.queue),
            metadata,
        )


def conclude_id(batch: Batch) -> str:
    """The id of a finished batch's conclude message: the one mergesignal publishes for a
    batch that landed, this stage's for one it failed or cancelled (a merge that failed is
    concluded twice; conclude is idempotent)."""
    ending = "merged" if batch.state is BatchState.SUCCEEDED else "speculate"
    return intent_id(batch.id, "conclude", ending)


def _queue(queue: str) -> Subject:
    return Subject(type="queue", id=queue)
