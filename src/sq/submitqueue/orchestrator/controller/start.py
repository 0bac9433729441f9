"""start: store the request, honour a cancel that overtook it, hand it to validate (spec §4.1)."""

from __future__ import annotations

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import RequestID
from sq.submitqueue.entity.request import Request, RequestState
from sq.submitqueue.orchestrator.controller.common import Log, db, decode, terminate_request
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class StartController:
    name = "start"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        land = decode(delivery, m.LandRequest)
        await db(self.deps.storage.create_request, request_of(self.deps, land))
        await self.log.status(land.id, land.queue, RequestState.STARTED.value, version=1)
        # The cancel stage records an intent when it finds no request; checked after the create,
        # and the cancel stage re-reads after writing its intent, so one of the two sees the other.
        reason = await db(self.deps.storage.cancel_intent, land.queue, land.id)
        if reason is not None:
            meta = {"reason": reason} if reason else {}
            await terminate_request(
                self.deps, self.log, land.queue, land.id, RequestState.CANCELLED, metadata=meta
            )
            return
        await self.ctx.publish(
            m.TOPIC_VALIDATE, land.queue, land.id, m.EntityRef(id=land.id, queue=land.queue)
        )


def request_of(deps: OrchestratorDeps, land: m.LandRequest) -> Request:
    """The request a land message asks for, as start stores it."""
    asked = land.land_strategy
    strategy = asked.value if asked else deps.profiles.get(land.queue).strategy
    return Request(
        id=RequestID(land.id),
        queue=land.queue,
        uris=tuple(land.change.uris),
        strategy=strategy,
        priority=land.priority,
    )
