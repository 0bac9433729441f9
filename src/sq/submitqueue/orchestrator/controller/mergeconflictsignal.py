"""mergeconflictsignal: runway's dry-run verdict decides whether the request goes on (§4.3)."""

from __future__ import annotations

from collections.abc import Sequence

from sq.api import runway as rw
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.request import Request, RequestState, is_request_halted
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    db,
    decode,
    load_request,
    load_requests,
    terminate_request,
)
from sq.submitqueue.orchestrator.controller.window import one_by_one, one_queue, publish_all
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
            await self._refuse(request, result)
            return
        if request.state is RequestState.STARTED:
            request = await db(self.deps.storage.update_request, request, RequestState.VALIDATED)
        elif request.state is not RequestState.VALIDATED:
            return
        await self.log.status(request.id, request.queue, "validated", version=request.version)
        await self.ctx.publish(*_to_batch(request))

    async def process_window(self, deliveries: Sequence[Delivery]) -> None:
        """`process` for each: the requests read in one statement and moved to `validated` in one
        transaction (all or none: one that changed meanwhile fails the window, and each is then
        handled alone)."""
        results = [decode(d, rw.MergeResult) for d in deliveries]
        queue = one_queue([x.queue_name for x in results], [x.id for x in results])
        if queue is None:
            await one_by_one(self, deliveries)
            return
        found = await load_requests(self.deps, queue, [x.id for x in results])
        going: list[Request] = []
        for result, request in zip(results, found, strict=True):
            if is_request_halted(request.state):
                continue
            if result.outcome is not rw.Outcome.SUCCEEDED:
                await self._refuse(request, result)
            elif request.state in (RequestState.STARTED, RequestState.VALIDATED):
                going.append(request)
        moves = [(r, RequestState.VALIDATED) for r in going if r.state is RequestState.STARTED]
        moved = {r.id: r for r in await db(self.deps.storage.advance_requests, moves)}
        going = [moved.get(r.id, r) for r in going]
        logs = self.log.bundle()
        for request in going:
            logs.status(request.id, queue, "validated", version=request.version)
        await logs.flush()
        await publish_all(self.ctx, (_to_batch(r) for r in going))

    async def _refuse(self, request: Request, result: rw.MergeResult) -> None:
        await terminate_request(
            self.deps,
            self.log,
            request.queue,
            request.id,
            RequestState.ERROR,
            last_error=result.reason or "the change does not merge",
        )


def _to_batch(request: Request) -> tuple[str, str, str, m.EntityRef]:
    return m.TOPIC_BATCH, request.queue, request.id, m.EntityRef(id=request.id, queue=request.queue)
