"""record (spec §2.5): write the immutable validation fact, advance the monotonic last green, and
move the promotion ref when this request holds the bookmark.

Every step recognises its own earlier run, so a redelivery (or the replay from `record_dlq`) is
safe: the persisted fact decides, never the delivery.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe.controller.common import (
    CAS_ATTEMPTS,
    about,
    load_request,
    log,
    message_of,
)
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import (
    DEGREE_BROKEN,
    DEGREE_GREEN,
    Request,
    RequestState,
    ValidationFact,
    compare_request_ids,
)
from sq.stovepipe.extension.sourcecontrol import NotFoundError as ScNotFoundError
from sq.stovepipe.storage import AlreadyExistsError, VersionMismatchError


class InvariantError(Exception):
    """Stored state contradicts what record was promised (never retried)."""


class RecordController:
    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx
        self.name = ctx.consumer_group

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        with about(message.id):
            await self._process(await load_request(self.deps, message))

    async def _process(self, request: Request) -> None:
        if request.state in (RequestState.CANCELLED, RequestState.SUPERSEDED):
            return
        if request.state not in (RequestState.SUCCEEDED, RequestState.FAILED):
            raise InvariantError(f"request {request.id} is {request.state}, not finished")
        fact = await self._fact(request)
        if not fact.is_green:
            return
        if await self._holds_bookmark(request):
            try:
                await self.deps.source_control.for_queue(request.queue).promote(request.uri)
            except ScNotFoundError:
                log.warning("promotion skipped: commit left the ref", uri=request.uri)

    async def _fact(self, request: Request) -> ValidationFact:
        green = request.state is RequestState.SUCCEEDED
        fact = ValidationFact(
            queue=request.queue,
            uri=request.uri,
            degree=DEGREE_GREEN if green else DEGREE_BROKEN,
            request_id=request.id,
            created_at_ms=self.deps.clock.now_ms(),
        )
        try:
            return await asyncio.to_thread(self.deps.storage.create_fact, fact)
        except AlreadyExistsError:
            stored = await asyncio.to_thread(self.deps.storage.get_fact, request.queue, request.uri)
        if stored.request_id != request.id:
            raise InvariantError(f"{request.uri} already has a fact from {stored.request_id}")
        return stored

    async def _holds_bookmark(self, request: Request) -> bool:
        store = self.deps.storage
        for _ in range(CAS_ATTEMPTS):
            row = await asyncio.to_thread(store.get_queue, request.queue)
            holder = row.last_green_request_id
            if holder:
                order = compare_request_ids(request.queue, request.id, holder)
                if order < 0:
                    return False  # a newer green holds it: promoting would move the ref back
                if order == 0:
                    return True
            advanced = replace(row, last_green_uri=request.uri, last_green_request_id=request.id)
            try:
                await asyncio.to_thread(store.update_queue, advanced)
                return True
            except VersionMismatchError:
                continue
        raise VersionMismatchError(f"queue {request.queue}: could not advance last green")
