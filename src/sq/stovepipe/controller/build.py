"""build (spec §2.3): trigger the request's build and start polling it on `buildsignal`.

A message naming a project (phase 2, from analyze) triggers that project's build at the
request's commit; the request itself is finished by then, so its state does not stop it.
"""

from __future__ import annotations

import asyncio
import contextlib

from sq.platform import errs
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe import messages
from sq.stovepipe.controller.common import about, load_request, message_of
from sq.stovepipe.controller.trigger import trigger
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import Build, BuildStatus, BuildStrategy, Request
from sq.stovepipe.storage import AlreadyExistsError


class BuildController:
    name = "stovepipe-build"

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        with about(message.id):
            request = await load_request(self.deps, message)
            if message.project:
                await self._start(request, message.project)
            else:
                await self._process(request)

    async def _process(self, request: Request) -> None:
        if request.state.is_terminal:
            return
        if request.build_strategy is BuildStrategy.NONE:
            raise errs.RetryableError(f"request {request.id} has no build strategy yet")
        await self._start(request, "")

    async def _start(self, request: Request, project: str) -> None:
        if project and not request.state.has_build_outcome:
            raise errs.UserError(f"project build of {request.id} before its own outcome")
        status = await trigger(self.deps, request, project)
        build = Build(
            id=status.build_id,
            queue=request.queue,
            request_id=request.id,
            status=BuildStatus.ACCEPTED,
            project=project,
            created_at_ms=self.deps.clock.now_ms(),
        )
        with contextlib.suppress(AlreadyExistsError):
            await asyncio.to_thread(self.deps.storage.create_build, build)
        payload = messages.EntityMessage(id=build.id, queue_name=request.queue)
        await self.ctx.publish(messages.BUILDSIGNAL, build.id, build.id, payload)
