"""mergesignal: record runway's landing verdict, then conclude and re-plan dependents (§4.10).

A landing also merges at once each dependent whose passed path has now come true in full
(`rules.mergeable_path`), as the next speculate run would, so that a chain of conflicting changes
lands at runway's pace rather than one speculate run per link. Only that plain case: a dependent
that carries a failed head, lands early, or is held by a high-priority batch waits for the
speculate run, which the landing signals as before. The speculate run and this stage race on
compare-and-swap versions (path set, then batch): whichever commits first merges the head.

An `outdated` verdict is not a failure: the target moved outside the queue after the build, so
the tree that would land was never built. The batch goes back to speculating with a new attempt
of its winning path, which builds on the target as it is now and then lands.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sq.api import runway as rw
from sq.platform.errs import VersionMismatchError
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id, unique_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.speculation.rules import mergeable_path, supersede
from sq.submitqueue.entity.batch import ACTIVE_STATES, Batch, BatchID, BatchState, is_terminal
from sq.submitqueue.entity.pathset import PathStatus
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    db,
    decode,
    dependency_states,
    dispatch_merge,
    load_batch,
)
from sq.submitqueue.orchestrator.controller.merge import winning_entry
from sq.submitqueue.orchestrator.controller.speculate_schedule import wake_speculate
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class MergeSignalController:
    name = "mergesignal"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        result = decode(delivery, rw.MergeResult)
        batch = await load_batch(self.deps, result.queue_name, result.id)
        if batch.state is BatchState.CANCELLING:
            return
        if result.outdated and result.outcome is rw.Outcome.FAILED:
            await self._build_again(batch, result)
            return
        succeeded = result.outcome is rw.Outcome.SUCCEEDED
        if succeeded:
            await self._settle_carried(batch, result)
        if succeeded and batch.state is BatchState.MERGING:
            await self._log_landed_commits(batch, result)
        if not is_terminal(batch.state):
            target = BatchState.SUCCEEDED if succeeded else BatchState.FAILED
            batch = await db(self.deps.storage.transition_batch, batch, target)
        meta = {}
        if batch.state is BatchState.FAILED:
            meta["failure_reason"] = result.reason or "merge failed"
        ref = m.EntityRef(id=batch.id, queue=batch.queue)
        await self.ctx.publish(
            m.TOPIC_CONCLUDE, batch.queue, intent_id(batch.id, "conclude", "merged"), ref, meta
        )
        if batch.state is BatchState.SUCCEEDED:
            await self._merge_dependents(batch)
        await wake_speculate(self.deps, self.ctx, batch.queue)

    async def _merge_dependents(self, landed: Batch) -> None:
        in_flight = await db(self.deps.storage.list_batches, landed.queue, ACTIVE_STATES)
        for head in freed_dependents(in_flight, landed.id):
            await self._merge_if_true(head)

    async def _merge_if_true(self, head: Batch) -> None:
        """As the speculate run's finalize: a speculate signal naming the head (for recovery),
        then the rest of its paths superseded and the head to merging in one transaction, then
        the dispatch to the merge stage, under the same dedup id as the speculate run's."""
        storage = self.deps.storage
        path_set = await db(storage.get_path_set, head.queue, head.id)
        state_of = await dependency_states(self.deps, head.queue, head.dependencies)
        winner = mergeable_path(path_set, state_of)
        if path_set is None or winner is None or winner.carries is not None:
            return
        superseded, _ = supersede(path_set, winner.id, self.deps.clock.now_ms())
        ref = m.EntityRef(id=head.id, queue=head.queue)
        await self.ctx.publish(m.TOPIC_SPECULATE, head.queue, unique_id(head.id), ref)
        try:
            _, merging = await db(storage.commit_verdict, superseded, head, BatchState.MERGING)
        except VersionMismatchError:
            return  # a speculate run got there first
        await dispatch_merge(self.log, merging)

    async def _settle_carried(self, batch: Batch, result: rw.MergeResult) -> None:
        """A landing that carried a failed dependency (pending-failure depth) landed its changes
        inside the passing tree: that batch succeeded too. Settled before the carrier, so a
        redelivery finds the carrier's mark again and finishes the job."""
        _, winner = await winning_entry(self.deps, batch)
        if winner is None or winner.carries is None:
            return
        carried = await load_batch(self.deps, batch.queue, winner.carries)
        if carried.state is BatchState.SPECULATING:
            await self._log_landed_commits(carried, result)
            carried = await db(self.deps.storage.transition_batch, carried, BatchState.SUCCEEDED)
        if carried.state is not BatchState.SUCCEEDED:
            return
        ref = m.EntityRef(id=carried.id, queue=carried.queue)
        await self.ctx.publish(
            m.TOPIC_CONCLUDE, carried.queue, intent_id(carried.id, "conclude", "merged"), ref
        )
        await wake_speculate(self.deps, self.ctx, carried.queue)

    async def _log_landed_commits(self, batch: Batch, result: rw.MergeResult) -> None:
        """`merged` per request, naming the commits it became (a reporter closes the pull request
        with them); logged before the batch is terminal, so a redelivery logs it again."""
        for step in result.steps:
            if step.step_id not in batch.contains or not step.outputs:
                continue
            await self.log.event(
                step.step_id,
                batch.queue,
                "merged",
                occurrence=batch.id,
                metadata={
                    "batch_id": batch.id,
                    "commits": ",".join(o.id for o in step.outputs),
                },
            )

    async def _build_again(self, batch: Batch, result: rw.MergeResult) -> None:
        """The winner's new, pending attempt and the batch back to speculating, in one
        transaction. Written one after the other, a crash in between left a merging batch with
        the new attempt stored; a speculate run could build it, and the redelivered answer then
        gave the winner a further attempt, throwing that passed build away.

        `outdated` is logged before the commit and `speculating` after it, also when a
        redelivered answer finds the batch one version past the landing it answers (a crash
        after the commit). An answer to an earlier landing of a batch that merges again is
        ignored."""
        landing = str(batch.version)
        if batch.state is BatchState.MERGING and result.landing in ("", landing):
            path_set, winner = await winning_entry(self.deps, batch)
            again = None
            if path_set is not None and winner is not None:
                attempt = dataclasses.replace(
                    winner.with_status(PathStatus.PENDING, self.deps.clock.now_ms()),
                    attempt=winner.attempt + 1,
                )
                again = path_set.with_entry(attempt)
            for request_id in batch.contains:
                await self.log.event(
                    request_id,
                    batch.queue,
                    "outdated",
                    occurrence=f"{batch.id}/{landing}",
                    metadata={"batch_id": batch.id, "reason": result.reason},
                )
            storage = self.deps.storage
            _, batch = await db(storage.commit_verdict, again, batch, BatchState.SPECULATING)
        elif batch.state is not BatchState.SPECULATING:
            return
        elif result.landing != str(batch.version - 1):  # not the landing that sent it back
            await wake_speculate(self.deps, self.ctx, batch.queue)
            return
        for request_id in batch.contains:
            await self.log.status(
                request_id,
                batch.queue,
                "speculating",
                occurrence=f"{batch.id}/{batch.version}",
                metadata={"batch_id": batch.id},
            )
        await wake_speculate(self.deps, self.ctx, batch.queue)


def freed_dependents(in_flight: Sequence[Batch], landed: BatchID) -> list[Batch]:
    """The speculating heads of `in_flight` that depend on `landed` and on nothing in flight,
    and that no in-flight batch overtakes (priority's `held_by`).

    A head's dependencies are in queue order, so they are checked newest first: in a chain a head
    still waiting is rejected at its last dependency, where checking from the oldest walked the
    whole finished prefix first (n heads behind j landed ones: n·j checks a landing, not n).
    """
    active = {b.id for b in in_flight}
    held = {overtaken for b in in_flight for overtaken in b.overtakes}
    return [
        head
        for head in in_flight
        if head.state is BatchState.SPECULATING
        and not any(d in active for d in reversed(head.dependencies))
        and landed in head.dependencies
        and head.id not in held
    ]
