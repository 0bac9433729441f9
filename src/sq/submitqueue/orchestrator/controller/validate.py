"""validate: refuse duplicates, describe and claim the changes, ask runway for a dry run."""

from __future__ import annotations

from collections.abc import Sequence

from sq.api import runway as rw
from sq.platform.errs import attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.request import (
    ChangeInfo,
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
    load_requests,
    request_subject,
    terminate_request,
)
from sq.submitqueue.orchestrator.controller.window import one_by_one, one_queue, publish_all
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
            await self._refuse(request, duplicate)
            return
        infos = await self._describe(request)
        await db(self.deps.storage.claim_changes, request, infos)
        await self.ctx.publish(*_dry_run(request))

    async def process_window(self, deliveries: Sequence[Delivery]) -> None:
        """`process` for each: the requests read in one statement, the claimants of all their
        changes in one more, and the claims of all of them written in one transaction. A request
        is checked against the claims of those before it in the window, as `process` finds them."""
        refs = [decode(d, m.EntityRef) for d in deliveries]
        queue = one_queue([x.queue for x in refs], [x.id for x in refs])
        if queue is None:
            await one_by_one(self, deliveries)
            return
        storage = self.deps.storage
        requests = [
            r
            for r in await load_requests(self.deps, queue, [x.id for x in refs])
            if r.state is RequestState.STARTED
        ]
        if not requests:
            return
        logs = self.log.bundle()
        for request in requests:
            logs.status(request.id, queue, "validating")
        await logs.flush()
        claims = await db(storage.claimants_of, queue, [u for r in requests for u in r.uris])
        live = {
            other: state is not None and not is_request_terminal(state)
            for claimants in claims.values()
            for other, state in claimants
        }
        refused: list[tuple[Request, str]] = []
        claimed: list[tuple[Request, list[ChangeInfo]]] = []
        for request in requests:
            duplicate = next(
                (
                    other
                    for uri in request.uris
                    for other in sorted({o for o, _ in claims.get(uri, ())})
                    if other != request.id and live.get(other, False)
                ),
                None,
            )
            if duplicate is not None:
                refused.append((request, duplicate))
                live[request.id] = False  # refused: in error when the next one is checked
                continue
            infos = await self._describe(request)
            claimed.append((request, infos))
            live[request.id] = True
            for info in infos:
                claims.setdefault(info.uri, []).append((request.id, request.state))
        await db(storage.claim_changes_of, claimed)
        for request, duplicate in refused:
            await self._refuse(request, duplicate)
        await publish_all(self.ctx, (_dry_run(request) for request, _ in claimed))

    async def _describe(self, request: Request) -> list[ChangeInfo]:
        profile = self.deps.profiles.get(request.queue)
        try:
            return await profile.provider.get(request)
        except Exception as exc:
            attribute(exc, request_subject(request.id))
            raise

    async def _refuse(self, request: Request, duplicate: str) -> None:
        await terminate_request(
            self.deps,
            self.log,
            request.queue,
            request.id,
            RequestState.ERROR,
            last_error=f"request {request.id} is a duplicate of in-flight request {duplicate}",
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


def _dry_run(request: Request) -> tuple[str, str, str, rw.MergeRequest]:
    return (
        rw.TOPIC_MERGE_CONFLICT_CHECK,
        request.queue,
        request.id,
        merge_request(request.id, request.queue, [request]),
    )
