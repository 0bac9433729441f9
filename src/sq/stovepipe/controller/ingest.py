"""Ingest (spec §2.1): one Request per distinct (queue, head URI), handed to `process`.

Each step tolerates having run before, so the whole call is idempotent and heals a call that
crashed half way: mapping → request row → latest pointer → publish.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sq.platform.messagequeue import MessageQueue
from sq.stovepipe import messages
from sq.stovepipe.controller.cas import swap
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import Queue, Request, RequestState, compare_request_ids, request_id
from sq.stovepipe.extension.sourcecontrol import NotFoundError as ScNotFoundError
from sq.stovepipe.storage import AlreadyExistsError, NotFoundError

COUNTER_DOMAIN = "stovepipe_request"


class RefNotFoundError(LookupError):
    """The queue's ref does not exist (or has no commit) in its repository."""


class IngestController:
    def __init__(self, deps: Deps, queue: MessageQueue) -> None:
        self.deps = deps
        self.queue = queue

    async def ingest(self, queue: str) -> Request:
        """Validate the queue's current head; returns its (possibly pre-existing) Request.

        Raises UnknownQueueError, RefNotFoundError, or the SourceControl's UnreachableError.
        """
        self.deps.check_queue(queue)
        try:
            uri = await self.deps.source_control.for_queue(queue).latest()
        except ScNotFoundError as exc:
            raise RefNotFoundError(str(exc)) from exc
        rid = await asyncio.to_thread(self._resolve_id, queue, uri)
        request = await asyncio.to_thread(self._ensure_request, queue, rid, uri)
        await self._advance_latest(queue, rid)
        if request.state is RequestState.ACCEPTED:
            payload = messages.EntityMessage(id=rid, queue_name=queue)
            await self.queue.publish(messages.PROCESS, queue, rid, payload)
        return request

    def _resolve_id(self, queue: str, uri: str) -> str:
        store = self.deps.storage
        try:
            return store.get_request_id_by_uri(queue, uri)
        except NotFoundError:
            pass
        rid = request_id(queue, self.deps.counter.next(queue, COUNTER_DOMAIN))
        try:
            store.create_request_uri(queue, uri, rid)
        except AlreadyExistsError:
            return store.get_request_id_by_uri(queue, uri)  # a racing ingest won
        return rid

    def _ensure_request(self, queue: str, rid: str, uri: str) -> Request:
        store = self.deps.storage
        try:
            return store.get_request(queue, rid)
        except NotFoundError:
            pass
        fresh = Request(
            id=rid,
            queue=queue,
            uri=uri,
            state=RequestState.ACCEPTED,
            created_at_ms=self.deps.clock.now_ms(),
        )
        try:
            return store.create_request(fresh)
        except AlreadyExistsError:
            return store.get_request(queue, rid)

    async def _advance_latest(self, queue: str, rid: str) -> None:
        store = self.deps.storage

        async def advance(row: Queue) -> Queue | None:
            latest = row.latest_request_id
            if latest and compare_request_ids(queue, rid, latest) <= 0:
                return None
            return replace(row, latest_request_id=rid)

        await swap(
            f"queue {queue}: advancing its latest request",
            lambda: store.get_or_create_queue(queue),
            advance,
            store.update_queue,
        )
