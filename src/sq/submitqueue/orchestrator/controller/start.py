"""start: store the request, honour a cancel that overtook it, hand it to validate (spec §4.1)."""

from __future__ import annotations

from collections.abc import Sequence

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import RequestID
from sq.submitqueue.entity.request import Request, RequestState
from sq.submitqueue.orchestrator.controller.common import Log, db, decode, terminate_request
from sq.submitqueue.orchestrator.controller.window import one_by_one, one_queue, publish_all
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
            await self._cancel(land, reason)
            return
        await self.ctx.publish(m.TOPIC_VALIDATE, land.queue, land.id, _validate(land))

    async def process_window(self, deliveries: Sequence[Delivery]) -> None:
        """`process` for each: the window's requests created in one transaction, then their
        cancel intents read in one statement."""
        lands = [decode(d, m.LandRequest) for d in deliveries]
        queue = one_queue([x.queue for x in lands], [x.id for x in lands])
        if queue is None:
            await one_by_one(self, deliveries)
            return
        storage = self.deps.storage
        await db(storage.create_requests, [request_of(self.deps, x) for x in lands])
        logs = self.log.bundle()
        for land in lands:
            logs.status(land.id, queue, RequestState.STARTED.value, version=1)
        await logs.flush()
        # Read after the creates commit, as in `process`.
        intents = await db(storage.cancel_intents, queue, [x.id for x in lands])
        for land in lands:
            if land.id in intents:
                await self._cancel(land, intents[land.id])
        await publish_all(
            self.ctx,
            ((m.TOPIC_VALIDATE, queue, x.id, _validate(x)) for x in lands if x.id not in intents),
        )

    async def _cancel(self, land: m.LandRequest, reason: str) -> None:
        meta = {"reason": reason} if reason else {}
        await terminate_request(
            self.deps, self.log, land.queue, land.id, RequestState.CANCELLED, metadata=meta
        )


def _validate(land: m.LandRequest) -> m.EntityRef:
    return m.EntityRef(id=land.id, queue=land.queue)


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
