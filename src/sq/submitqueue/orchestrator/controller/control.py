"""queue-control: the gateway says an operator paused, resumed or drained a queue. Store the mode
(the speculate run reads it in its one read); when the queue may fund work again, wake a run."""

from __future__ import annotations

import structlog

from sq.platform.errs import UserError
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.control import QueueControl, QueueMode, starts_new_work
from sq.submitqueue.orchestrator.controller.common import db, decode
from sq.submitqueue.orchestrator.controller.speculate_schedule import wake_speculate
from sq.submitqueue.orchestrator.profile import OrchestratorDeps, UnknownQueueError

log = structlog.get_logger(__name__)


class ControlController:
    """Idempotent: a change of a version already stored is ignored."""

    name = "queue-control"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx = deps, ctx

    async def process(self, delivery: Delivery) -> None:
        change = decode(delivery, m.QueueControlChange)
        try:
            self.deps.profiles.get(change.queue)
        except UnknownQueueError:
            log.warning("queue control for a queue not configured here", queue=change.queue)
            return
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
        await wake_speculate(self.deps, self.ctx, change.queue)


class ControlReconciler(ControlController):
    """The DLQ side: apply the change again until it is stored (retried forever, as every
    reconciler); a payload that cannot be read is logged and dropped, since the gateway's table
    still holds the mode and an operator's next change carries it again."""

    name = "queue-control-reconciler"

    async def process(self, delivery: Delivery) -> None:
        try:
            await super().process(delivery)
        except UserError as exc:
            log.warning("queue control change dropped", error=str(exc), id=delivery.message_id)
