"""DLQ reconcilers (spec §2.6): a request that cannot finish fails closed — `failed`, not green —
and gives its slot back, so one poison request never wedges its queue.

Every error here is retried (the pipeline runs DLQ readers with always-retry). `record_dlq` is read
by the record controller itself: recovering a fact is a replay, not a failure.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe import messages
from sq.stovepipe.controller.common import log, message_of, release_slot
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import FailureReason, RequestState
from sq.stovepipe.storage import NotFoundError


async def fail_request(deps: Deps, queue: str, rid: str) -> RequestState | None:
    """Force `failed` from `accepted`/`processing`; returns the state the request ended in."""
    try:
        request = await asyncio.to_thread(deps.storage.get_request, queue, rid)
    except NotFoundError:
        log.warning("nothing to reconcile: no such request", request=rid)
        return None
    if request.state.is_terminal:
        return request.state
    if request.state is RequestState.PROCESSING:
        await release_slot(deps, queue)
    failed = replace(request, state=RequestState.FAILED, failure_reason=FailureReason.RECONCILED)
    await asyncio.to_thread(deps.storage.update_request, failed)
    log.warning("request failed closed", request=rid)
    return RequestState.FAILED


class RequestReconciler:
    """process_dlq and build_dlq: the payload names the request."""

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.name = ctx.consumer_group

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        await fail_request(self.deps, message.queue_name, message.id)


class BuildSignalReconciler:
    """buildsignal_dlq: the payload names a build; its request fails closed.

    A request that already has its outcome gets `record` again instead (spec §8.11: a lost record
    publish would otherwise lose the fact)."""

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx
        self.name = ctx.consumer_group

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        try:
            build = await asyncio.to_thread(
                self.deps.storage.get_build, message.queue_name, message.id
            )
        except NotFoundError:
            return  # crashed before the row: build_dlq covers the request
        if not build.request_id:
            return
        state = await fail_request(self.deps, build.queue, build.request_id)
        if state is not None and state.has_build_outcome:
            payload = messages.EntityMessage(id=build.request_id, queue_name=build.queue)
            await self.ctx.publish(messages.RECORD, build.request_id, build.request_id, payload)
