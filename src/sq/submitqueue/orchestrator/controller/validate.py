"""validate: refuse duplicates, describe and claim the changes, ask runway for a dry run."""

from __future__ import annotations

from sq.api import runway as rw
from sq.platform.errs import attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.request import (
    Request,
    RequestState,
    is_request_halted,
    is_request_terminal,
)
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    check_queue,
    db,
    decode,
    load_request,
    request_subject,
    terminate_request,
)
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


def merge_request(request_id: str, queue: str, requests: list[Request]) -> rw.MergeRequest:
    """Runway's request: one step per request, in order, each with its strategy."""
    return rw.MergeRequest(
        id=request_id,
        queue_name=queue,
        steps=tuple(
            rw.MergeStep(
                step_id=r.id,
                change=rw.Change(uris=r.uris),
                strategy=_strategy(r.strategy),
            )
            for r in requests
        ),
    )


def _strategy(text: str) -> rw.StepStrategy:
    try:
        return rw.StepStrategy(text)
    except ValueError:
        return rw.StepStrategy.DEFAULT


class ValidateController:
    name = "validate"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        request = await load_request(self.deps, ref.queue, ref.id)
        check_queue(ref.queue, request.queue, ref.id)
        if is_request_halted(request.state) or request.state is not RequestState.STARTED:
            return
        await self.log.status(request.id, request.queue, "validating")
        duplicate = await self._duplicate_of(request)
        if duplicate is not None:
            await terminate_request(
                self.deps,
                self.log,
                request.queue,
                request.id,
                RequestState.ERROR,
                last_error=f"request {request.id} is a duplicate of in-flight request {duplicate}",
            )
            return
        profile = self.deps.profiles.get(request.queue)
        try:
            infos = await profile.provider.get(request)
        except Exception as exc:
            attribute(exc, request_subject(request.id))
            raise
        await db(self.deps.storage.claim_changes, request, infos)
        await self.ctx.publish(
            rw.TOPIC_MERGE_CONFLICT_CHECK,
            request.queue,
            request.id,
            merge_request(request.id, request.queue, [request]),
        )

    async def _duplicate_of(self, request: Request) -> str | None:
        for uri in request.uris:
            for other_id in await db(self.deps.storage.claimants, request.queue, uri):
                if other_id == request.id:
                    continue
                other = await db(self.deps.storage.get_request, request.queue, other_id)
                if other is not None and not is_request_terminal(other.state):
                    return other_id
        return None
