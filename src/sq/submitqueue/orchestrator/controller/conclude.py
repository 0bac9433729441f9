"""conclude: a finished batch decides its requests' terminal states (spec §4.11), and the queue's
scorer learns how it ended."""

from __future__ import annotations

import structlog

from sq.platform.errs import UserError, attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.batching import split
from sq.submitqueue.entity.batch import Batch, BatchState, RequestID, batch_id
from sq.submitqueue.entity.pathset import PathStatus
from sq.submitqueue.entity.request import RequestState, is_request_halted, is_request_terminal
from sq.submitqueue.orchestrator.controller.batch import form_soon, member_probability
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    batch_subject,
    db,
    decode,
    load_batch,
    terminate_request,
)
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

log = structlog.get_logger("sq.orchestrator.conclude")

_OUTCOME = {
    BatchState.SUCCEEDED: RequestState.LANDED,
    BatchState.FAILED: RequestState.ERROR,
    BatchState.CANCELLED: RequestState.CANCELLED,
}


class ConcludeController:
    name = "conclude"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        batch = await load_batch(self.deps, ref.queue, ref.id)
        target = _OUTCOME.get(batch.state)
        if target is None:
            raise attribute(
                UserError(f"batch {batch.id} is {batch.state}, not finished"),
                batch_subject(batch.id),
            )
        reason = delivery.metadata.get("failure_reason", "")
        several = len(batch.contains) > 1
        if several and batch.state is BatchState.FAILED:
            build = await self._own_failure(batch)
            if build is not None:
                await self._split(batch, build)
                return
        if several and batch.state is BatchState.CANCELLED:
            await self._requeue(batch)
            return
        for request_id in batch.contains:
            await terminate_request(
                self.deps,
                self.log,
                batch.queue,
                request_id,
                target,
                last_error=reason if target is RequestState.ERROR else "",
                metadata={"batch_id": batch.id},
            )
        if batch.state is not BatchState.CANCELLED:
            await self._learn(batch)

    async def _split(self, failed: Batch, build: str) -> None:
        """Bisection: the failed batch's own build failed, so one of its members at least is
        bad. Its members are cut in two parts (`core.batching.split`), each a new batch analysed
        like an arrival (first part first); none of its requests fails here. Recorded with the
        parts in one transaction: a redelivery finds the same parts and asks again for what
        may not have been asked (ids dedup)."""
        storage = self.deps.storage
        queue = failed.queue
        rule = self.deps.profiles.get(queue).batching.split
        chances = [await member_probability(self.deps, queue, r) for r in failed.contains]
        cut = split(failed.contains, chances, rule)
        parts = []
        for members in cut:
            number = await db(storage.next_batch_number, queue)
            parts.append(
                Batch(
                    id=batch_id(queue, number),
                    queue=queue,
                    contains=members,
                    priority=failed.priority,
                )
            )
        parts = await db(storage.split_batch, failed, parts)
        for part in parts:
            for request_id in part.contains:
                await self.log.event(
                    request_id,
                    queue,
                    "split",
                    occurrence=failed.id,
                    metadata={
                        "failed_batch_id": failed.id,
                        "batch_id": part.id,
                        "build_id": build,
                        "rule": rule.value,
                    },
                )
        for part in parts:
            await self.ctx.publish(
                m.TOPIC_DEPENDENCY_ANALYSIS, queue, part.id, m.EntityRef(id=part.id, queue=queue)
            )

    async def _own_failure(self, batch: Batch) -> str | None:
        """The build that failed `batch` on its own (empty when unrecorded), or None when it
        failed otherwise: it never passed a build (finalize found no viable path) but failed
        one. A batch that passed and then failed to land, or that was dead-lettered before any
        build ended, fails whole."""
        storage = self.deps.storage
        path_set = await db(storage.get_path_set, batch.queue, batch.id)
        entries = path_set.paths if path_set else ()
        failed = [e for e in entries if e.status is PathStatus.FAILED]
        if not failed or any(e.status is PathStatus.PASSED for e in entries):
            return None
        last = max(failed, key=lambda e: e.updated_at_ms)
        found = await db(storage.linked_build, batch.queue, last.id, last.attempt)
        return found or ""

    async def _requeue(self, batch: Batch) -> None:
        """A batch of several was cancelled for a member that was: that member is cancelled,
        the others wait for a batch again (re-batched without it)."""
        storage = self.deps.storage
        now = self.deps.clock.now_ms()
        back: list[RequestID] = []
        for request_id in batch.contains:
            request = await db(storage.get_request, batch.queue, request_id)
            if request is None or is_request_terminal(request.state):
                continue
            if is_request_halted(request.state):
                await terminate_request(
                    self.deps,
                    self.log,
                    batch.queue,
                    request_id,
                    RequestState.CANCELLED,
                    metadata={"batch_id": batch.id},
                )
                continue
            await db(storage.enqueue_waiting, batch.queue, request_id, now)
            back.append(request_id)
            await self.log.event(
                request_id,
                batch.queue,
                "requeued",
                occurrence=batch.id,
                metadata={"batch_id": batch.id},
            )
        if back:
            await form_soon(self.ctx, batch.queue, batch.id, back[0])

    async def _learn(self, batch: Batch) -> None:
        """Tell the queue's scorer how the batch ended; best effort, never blocks concluding."""
        landed = batch.state is BatchState.SUCCEEDED
        try:
            sink = self.deps.profiles.get(batch.queue).outcomes
            if sink is not None:
                await db(sink.learn, batch, landed, self.deps.clock.now_ms())
        except Exception:
            log.warning("could not record the outcome", batch=batch.id, exc_info=True)
