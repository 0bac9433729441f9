"""merge: ask runway to land a batch whose passed path has come true (spec §4.9)."""

from __future__ import annotations

from sq.api import runway as rw
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import is_halted
from sq.submitqueue.orchestrator.controller.common import Log, db, decode, load_batch
from sq.submitqueue.orchestrator.controller.validate import merge_request
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class MergeController:
    name = "merge"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        batch = await load_batch(self.deps, ref.queue, ref.id)
        if is_halted(batch.state):
            return
        requests = []
        for request_id in batch.contains:
            request = await db(self.deps.storage.get_request, batch.queue, request_id)
            if request is not None:
                requests.append(request)
        for request in requests:
            await self.log.status(
                request.id,
                batch.queue,
                "landing",
                occurrence=batch.id,
                metadata={"batch_id": batch.id},
            )
        await self.ctx.publish(
            rw.TOPIC_RUNWAY_MERGE,
            batch.queue,
            batch.id,
            merge_request(batch.id, batch.queue, requests),
        )
