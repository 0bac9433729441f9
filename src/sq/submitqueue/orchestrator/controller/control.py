"""queue-control: the gateway says an operator paused, resumed or drained a queue. Store the mode
(the speculate run reads it in its one read); when the queue may fund work again, wake a run."""

from __future__ import annotations

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import ACTIVE_STATES
from sq.submitqueue.entity.control import QueueControl, QueueMode, starts_new_work
from sq.submitqueue.orchestrator.controller.common import db, decode
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class ControlController:
    """Idempotent: a change of a version already stored is ignored, so it also serves as its
    own DLQ reconciler (a dead-lettered change is applied again until it is stored)."""

    name = "queue-control"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx = deps, ctx

    async def process(self, delivery: Delivery) -> None:
        change = decode(delivery, m.QueueControlChange)
        self.deps.profiles.get(change.queue)
        control = QueueControl(
            queue=change.queue,
            mode=QueueMode(change.mode),
            version=change.version,
            reason=change.reason,
            changed_at_ms=change.changed_at_ms,
        )
        await db(self.deps.storage.controls.apply_change, control)
        if not starts_new_work(control.mode):
            return
        # A run re-plans the whole queue; naming its oldest in-flight head is enough to wake it.
        in_flight = await db(self.deps.storage.list_batches, change.queue, ACTIVE_STATES)
        if in_flight:
            head = in_flight[0]
            await self.ctx.publish(
                m.TOPIC_SPECULATE,
                head.queue,
                intent_id(head.id, "control", str(control.version)),
                m.EntityRef(id=head.id, queue=head.queue),
            )
