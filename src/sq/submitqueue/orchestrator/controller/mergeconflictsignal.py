"""mergeconflictsignal: runway's dry-run verdict decides whether the request goes on (§4.3)."""

from __future__ import annotations

from sq.api import runway as rw
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.request import RequestState, is_request_halted
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    db,
    decode,
    load_request,
    terminate_request,
)
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class MergeConflictSignalController:
    name = "mergeconflictsignal"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        result = decode(delivery, rw.MergeResult)
        request = await load_request(self.deps, result.queue_name, result.id)
        if is_request_halted(request.state):
            return
        if result.outcome is not rw.Outcome.SUCCEEDED:
            await terminate_request(
                self.deps,
                self.log,
                request.queue,
                request.id,
                RequestState.ERROR,
                last_error=result.reason or "the change does not merge",
            )
            return
        if request.state is RequestState.STARTED:
            request = await db(self.deps.storage.update_request, request, RequestState.VALIDATED)
        elif request.state is not RequestState.VALIDATED:
            return
        await self.log.status(request.id, request.queue, "validated", version=request.version)
        await self.ctx.publish(
            m.TOPIC_BATCH,
            request.queue,
            request.id,
            m.EntityRef(id=request.id, queue=request.queue),
        )
