"""batch: wrap a validated request in a new batch (one request per batch, spec §4.4)."""

from __future__ import annotations

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, batch_id
from sq.submitqueue.entity.request import RequestState
from sq.submitqueue.orchestrator.controller.common import Log, db, decode, load_request
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class BatchController:
    name = "batch"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        request = await load_request(self.deps, ref.queue, ref.id)
        if request.state is not RequestState.VALIDATED:
            return
        number = await db(self.deps.storage.next_batch_number, request.queue)
        batch = Batch(
            id=batch_id(request.queue, number),
            queue=request.queue,
            contains=(request.id,),
            priority=request.priority,
        )
        await db(self.deps.storage.create_batch, batch)
        await self.log.status(
            request.id,
            request.queue,
            "batching",
            version=request.version,
            metadata={"batch_id": batch.id},
        )
        await self.ctx.publish(
            m.TOPIC_DEPENDENCY_ANALYSIS,
            request.queue,
            batch.id,
            m.EntityRef(id=batch.id, queue=request.queue),
        )
