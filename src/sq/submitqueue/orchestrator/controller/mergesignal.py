"""mergesignal: record runway's landing verdict, then conclude and re-plan dependents (§4.10)."""

from __future__ import annotations

from sq.api import runway as rw
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import BatchState, is_terminal
from sq.submitqueue.orchestrator.controller.common import db, decode, load_batch
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class MergeSignalController:
    name = "mergesignal"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx = deps, ctx

    async def process(self, delivery: Delivery) -> None:
        result = decode(delivery, rw.MergeResult)
        batch = await load_batch(self.deps, result.queue_name, result.id)
        if batch.state is BatchState.CANCELLING:
            return
        succeeded = result.outcome is rw.Outcome.SUCCEEDED
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
        await self.ctx.publish(m.TOPIC_SPECULATE, batch.queue, intent_id(batch.id, "merged"), ref)
