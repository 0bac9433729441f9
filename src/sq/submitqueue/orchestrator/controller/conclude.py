"""conclude: a finished batch decides its requests' terminal states (spec §4.11), and the queue's
scorer learns how it ended."""

from __future__ import annotations

import structlog

from sq.platform.errs import UserError, attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchState
from sq.submitqueue.entity.request import RequestState
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

    async def _learn(self, batch: Batch) -> None:
        """Tell the queue's scorer how the batch ended; best effort, never blocks concluding."""
        landed = batch.state is BatchState.SUCCEEDED
        try:
            sink = self.deps.profiles.get(batch.queue).outcomes
            if sink is not None:
                await db(sink.learn, batch, landed, self.deps.clock.now_ms())
        except Exception:
            log.warning("could not record the outcome", batch=batch.id, exc_info=True)
