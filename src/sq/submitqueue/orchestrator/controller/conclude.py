"""conclude: a finished batch decides its requests' terminal states (spec §4.11)."""

from __future__ import annotations

from sq.platform.errs import UserError, attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import BatchState
from sq.submitqueue.entity.request import RequestState
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    batch_subject,
    decode,
    load_batch,
    terminate_request,
)
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

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
