"""record (spec §2.5): write the immutable validation fact, advance the monotonic last green, and
move the promotion ref when this request holds the bookmark; then hand the request to analyze
when the queue has projects.

A red request of a queue with projects gets its whole-repository fact from analyze instead: its
degree is the fraction of projects broken, known only once they are attributed. A `record`
message naming a project records that project's build (phase 2).

Every step recognises its own earlier run, so a redelivery (or the replay from `record_dlq`) is
safe: the persisted fact decides, never the delivery.
"""

from __future__ import annotations

import asyncio

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe import messages
from sq.stovepipe.controller.common import InvariantError, about, load_request, message_of
from sq.stovepipe.controller.trigger import build_id_for
from sq.stovepipe.controller.verdict import (
    holds_bookmark,
    promote,
    record_fact,
    record_project_verdict,
)
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import (
    DEGREE_BROKEN,
    DEGREE_GREEN,
    BuildStatus,
    Request,
    RequestState,
)

__all__ = ["InvariantError", "RecordController"]


class RecordController:
    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx
        self.name = ctx.consumer_group

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        with about(message.id):
            request = await load_request(self.deps, message)
            if message.project:
                await self._project(request, message.project)
            else:
                await self._process(request)

    async def _process(self, request: Request) -> None:
        if request.state in (RequestState.CANCELLED, RequestState.SUPERSEDED):
            return
        if request.state not in (RequestState.SUCCEEDED, RequestState.FAILED):
            raise InvariantError(f"request {request.id} is {request.state}, not finished")
        green = request.state is RequestState.SUCCEEDED
        projects = self.deps.queue(request.queue).projects
        if green or not projects:
            fact = await record_fact(
                self.deps, self.ctx, request, DEGREE_GREEN if green else DEGREE_BROKEN
            )
            if fact.is_green and await holds_bookmark(self.deps, request):
                await promote(self.deps, self.ctx, request)
        if projects:
            payload = messages.EntityMessage(id=request.id, queue_name=request.queue)
            await self.ctx.publish(messages.ANALYZE, request.id, request.id, payload)

    async def _project(self, request: Request, project: str) -> None:
        build_id = build_id_for(request, project)
        build = await asyncio.to_thread(self.deps.storage.get_build, request.queue, build_id)
        if not build.status.is_terminal:
            raise InvariantError(f"project build {build.id} is {build.status}, not finished")
        passed = build.status is BuildStatus.SUCCEEDED
        degree = DEGREE_GREEN if passed else DEGREE_BROKEN
        await record_project_verdict(self.deps, self.ctx, request, project, degree)
