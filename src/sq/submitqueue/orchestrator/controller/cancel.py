"""cancel: stop a request wherever it is (spec §4.12), even before its start was processed."""

from __future__ import annotations

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import BatchState, is_cancellable, is_terminal
from sq.submitqueue.entity.request import RequestState, is_request_terminal
from sq.submitqueue.orchestrator.controller.common import Log, db, decode, terminate_request
from sq.submitqueue.orchestrator.controller.merge import carrier_of
from sq.submitqueue.orchestrator.controller.speculate_schedule import wake_speculate
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class CancelController:
    name = "cancel"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        cancel = decode(delivery, m.CancelRequest)
        storage = self.deps.storage
        request = await db(storage.get_request, cancel.queue, cancel.id)
        if request is None:
            await db(storage.put_cancel_intent, cancel.queue, cancel.id, cancel.reason)
            request = await db(storage.get_request, cancel.queue, cancel.id)
            if request is None:
                return  # start will find the intent
        if is_request_terminal(request.state):
            return
        if request.state is not RequestState.CANCELLING:
            request = await db(storage.update_request, request, RequestState.CANCELLING)
        meta = {"reason": cancel.reason} if cancel.reason else {}
        if await db(storage.drop_waiting, cancel.queue, cancel.id):  # waiting for a batch
            await terminate_request(
                self.deps, self.log, cancel.queue, cancel.id, RequestState.CANCELLED, metadata=meta
            )
            return
        applicable = False
        for batch in await db(storage.batches_of_request, cancel.queue, cancel.id):
            if batch.state is BatchState.MERGING or is_terminal(batch.state):
                applicable = True  # its outcome belongs to merge and conclude
                continue
            if await carrier_of(self.deps, batch) is not None:
                applicable = True  # it lands inside a dependent's landing: as if merging
                continue
            if not is_cancellable(batch.state):
                continue
            applicable = True
            if batch.state is not BatchState.CANCELLING:
                await db(storage.transition_batch, batch, BatchState.CANCELLING)
            await wake_speculate(self.deps, self.ctx, cancel.queue)
        if not applicable:
            await terminate_request(
                self.deps, self.log, cancel.queue, cancel.id, RequestState.CANCELLED, metadata=meta
            )
