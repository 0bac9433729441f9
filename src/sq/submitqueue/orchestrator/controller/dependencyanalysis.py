"""dependency-analysis: fix a new batch's dependencies and claim its requests (spec §4.5).

Serial per queue (partitioned by queue): the in-flight list it reads cannot change under it.
"""

from __future__ import annotations

from sq.platform.errs import VersionMismatchError, attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import unique_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.speculation import priority
from sq.submitqueue.entity.batch import DEPENDENCY_STATES, Batch, BatchState, is_terminal
from sq.submitqueue.entity.conflict import dependency_ids
from sq.submitqueue.entity.request import RequestState, is_request_halted
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    batch_subject,
    db,
    decode,
    load_batch,
    terminate_request,
)
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class DependencyAnalysisController:
    name = "dependency-analysis"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        batch = await load_batch(self.deps, ref.queue, ref.id)
        if batch.state is BatchState.CREATING:
            created = await self._analyze(batch)
            if created is None:
                return  # abandoned: another batch carries the request, or it was cancelled
            batch = created
        elif batch.state is not BatchState.CREATED:
            return
        for request_id in batch.contains:
            await self.log.status(
                request_id, batch.queue, "batched", metadata={"batch_id": batch.id}
            )
        await self.ctx.publish(
            m.TOPIC_SPECULATE, batch.queue, batch.id, m.EntityRef(id=batch.id, queue=batch.queue)
        )

    async def _analyze(self, batch: Batch) -> Batch | None:
        storage = self.deps.storage
        for request_id in batch.contains:
            for other in await db(storage.batches_of_request, batch.queue, request_id):
                if other.id == batch.id or other.state is BatchState.CREATING:
                    continue
                if not is_terminal(other.state):
                    return None  # a live batch carries it (an ended one was split or re-queued)
        in_flight = await db(storage.list_batches, batch.queue, DEPENDENCY_STATES)
        analyzer = self.deps.profiles.get(batch.queue).analyzer
        try:
            conflicts = await db(analyzer.analyze, batch, in_flight)
        except Exception as exc:
            attribute(exc, batch_subject(batch.id))
            raise
        dependencies, overtakes = priority.split_conflicts(
            batch, dependency_ids(conflicts), in_flight
        )
        # A member of a batch of several that a cancel halted does not abandon the others: the
        # batch is created, then cancelled (`_cancel_if_overtaken`), and its conclusion puts the
        # others back to wait for a batch.
        several = len(batch.contains) > 1
        for request_id in batch.contains:
            request = await db(storage.get_request, batch.queue, request_id)
            if request is None or is_request_halted(request.state):
                if several:
                    continue
                if request is not None and request.state is RequestState.CANCELLING:
                    # Cancelled while a batch that ended held it (a split's part): no batch
                    # of it is left to conclude it.
                    await terminate_request(
                        self.deps, self.log, batch.queue, request_id, RequestState.CANCELLED
                    )
                return None
            await db(storage.associate, batch.queue, request_id, batch.id)
            if request.state is RequestState.VALIDATED:
                try:
                    request = await db(storage.update_request, request, RequestState.BATCHED)
                except VersionMismatchError:
                    if several:
                        continue
                    return None  # cancel won the race for the request
            elif request.state is not RequestState.BATCHED:
                return None
        created = await db(
            storage.transition_batch, batch, BatchState.CREATED, dependencies, overtakes
        )
        await self._cancel_if_overtaken(created)
        return created

    async def _cancel_if_overtaken(self, batch: Batch) -> None:
        """A cancel that ran while this batch was still `creating` found nothing to stop; make
        sure the batch does not go on for a request that is now halted."""
        for request_id in batch.contains:
            request = await db(self.deps.storage.get_request, batch.queue, request_id)
            if request is not None and is_request_halted(request.state):
                await db(self.deps.storage.transition_batch, batch, BatchState.CANCELLING)
                await self.ctx.publish(
                    m.TOPIC_SPECULATE,
                    batch.queue,
                    unique_id(batch.id),
                    m.EntityRef(id=batch.id, queue=batch.queue),
                )
                return
