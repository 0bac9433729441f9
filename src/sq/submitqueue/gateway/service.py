"""The gateway's behaviour, without HTTP: land, cancel and the read models (§2.2-§2.8)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from sq.platform.clock import Clock
from sq.submitqueue.core.messages import (
    TOPIC_CANCEL,
    TOPIC_START,
    CancelRequest,
    ChangeRef,
    LandRequest,
    LandStrategy,
)
from sq.submitqueue.entity.batch import Priority
from sq.submitqueue.gateway import pagetoken, validation
from sq.submitqueue.gateway.errors import (
    AlreadySettledError,
    InvalidRequestError,
    NotFoundError,
    UnavailableError,
)
from sq.submitqueue.gateway.materializer import Materializer
from sq.submitqueue.gateway.model import Cursor, LogEntry, Page, Summary, request_id
from sq.submitqueue.gateway.status import RequestStatus, is_terminal
from sq.submitqueue.gateway.storage import RequestLogStore
from sq.submitqueue.gateway.validation import QueueInfo

log = structlog.get_logger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_BY_CHANGE = 100


class Publisher(Protocol):
    async def publish(self, key: str, partition_key: str, message_id: str, payload: Any) -> bool:
        """Publish to a topic key; False when the message id was already stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListResult:
    page: Page
    query: pagetoken.ListQuery
    next_page_token: str | None


class ChangePinner(Protocol):
    async def pin(self, queue: str, uris: Sequence[str]) -> tuple[str, ...]:
        """The URIs with every unpinned change pinned to its current commit (e.g. a pull
        request's web address to `github://…/SHA`). Raises a GatewayError (400 for a change that
        does not exist, 503 when its host cannot answer)."""
        ...


class Gateway:
    pinner: ChangePinner | None = None
    """Set by the wiring for queues whose changes can be named unpinned (GitHub)."""

    def __init__(
        self,
        *,
        store: RequestLogStore,
        queues: Mapping[str, QueueInfo],
        publisher: Publisher,
        next_number: Callable[[str], int],
        clock: Clock,
        admits: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self.admits = admits
        """Raises a GatewayError when a queue takes no new request (it is draining)."""
        self.queues = dict(queues)
        self.publisher = publisher
        self.next_number = next_number
        self.clock = clock
        self.materializer = Materializer(store)

    async def land(
        self,
        queue: str,
        change_uris: Sequence[str],
        strategy: LandStrategy | None,
        *,
        priority: Priority = Priority.NORMAL,
    ) -> Summary:
        """Receipt, then publish, then `accepted`: the publish is the success boundary (§2.2)."""
        info = validation.check_queue(self.queues, queue, in_path=False)
        uris = validation.check_change_uris(info, change_uris)
        if self.admits is not None:
            await self.admits(queue)
        if self.pinner is not None:
            uris = await self.pinner.pin(queue, uris)
        chosen = strategy or info.strategy
        number = await asyncio.to_thread(self.next_number, queue)
        sqid = request_id(queue, number)
        now = self.clock.now_ms()
        receipt = Summary(
            queue=queue,
            request_id=sqid,
            number=number,
            change_uris=uris,
            land_strategy=chosen.value,
            received_at_ms=now,
            status=RequestStatus.ACCEPTING,
            request_version=0,
            status_timestamp_ms=now,
        )
        await asyncio.to_thread(self.store.create_receipt, receipt)
        message = LandRequest(
            id=sqid,
            queue=queue,
            change=ChangeRef(uris=uris),
            land_strategy=chosen,
            priority=priority,
        )
        try:
            await self.publisher.publish(TOPIC_START, queue, sqid, message)
        except Exception as exc:
            log.warning("land: publishing start failed", request_id=sqid, error=str(exc))
            raise UnavailableError("the message queue is unavailable; try again") from exc
        accepted = _status(receipt, "accepted", RequestStatus.ACCEPTED, now)
        try:
            return await asyncio.to_thread(self.materializer.persist, accepted)
        except Exception as exc:  # noqa: BLE001  later log entries make the request visible anyway
            log.warning("land: recording accepted failed", request_id=sqid, error=str(exc))
            return receipt

    async def cancel(self, sqid: str, reason: str) -> Summary:
        """Record `cancelling` and ask the orchestrator to cancel, even if it has not yet stored
        the request: the cancel message waits for it there (§2.3; the reference drops it)."""
        queue, _ = validation.check_request_id(self.queues, sqid)
        current = await asyncio.to_thread(self.store.get_summary, queue, sqid)
        if current is None:
            raise NotFoundError(f"no request {sqid}")
        if is_terminal(current.status):
            raise AlreadySettledError(f"{sqid} already settled: {current.status}")
        metadata = {"reason": reason} if reason else {}
        entry = _status(
            current, "cancelling", RequestStatus.CANCELLING, self.clock.now_ms(), metadata
        )
        summary = await asyncio.to_thread(self.materializer.persist, entry)
        try:
            await self.publisher.publish(
                TOPIC_CANCEL, sqid, sqid, CancelRequest(id=sqid, queue=queue, reason=reason)
            )
        except Exception as exc:
            raise UnavailableError("the message queue is unavailable; try again") from exc
        return summary

    async def summary(self, sqid: str) -> Summary:
        queue, _ = validation.check_request_id(self.queues, sqid)
        found = await asyncio.to_thread(self.store.get_summary, queue, sqid)
        if found is None or not found.visible:
            raise NotFoundError(f"no request {sqid}")
        return found

    async def history(self, sqid: str) -> list[LogEntry]:
        queue, _ = validation.check_request_id(self.queues, sqid)
        found = await asyncio.to_thread(self.store.history, queue, [sqid])
        if not found:
            raise NotFoundError(f"no request {sqid}")
        return found[sqid]

    async def by_change(self, queue: str, uri: str, limit: int) -> list[Summary]:
        """Requests naming `uri`, newest first; NotFoundError when there are none (§2.5)."""
        validation.check_queue(self.queues, queue, in_path=True)
        validation.check_change_uri(uri)
        limit = _bounded(limit, MAX_BY_CHANGE, "limit")
        found = await asyncio.to_thread(self.store.list_by_change, queue, uri, limit)
        if not found:
            raise NotFoundError(f"no request in {queue} names {uri}")
        return found

    async def histories_by_change(
        self, queue: str, uri: str, limit: int
    ) -> list[tuple[str, list[LogEntry]]]:
        """Each request's history, oldest request first (numeric order of ids, §2.8)."""
        summaries = await self.by_change(queue, uri, limit)
        ordered = sorted(summaries, key=lambda s: s.number)
        ids = [s.request_id for s in ordered]
        found = await asyncio.to_thread(self.store.history, queue, ids)
        return [(sqid, found[sqid]) for sqid in ids if sqid in found]

    async def list(
        self,
        queue: str,
        after_ms: int | None,
        before_ms: int | None,
        page_size: int | None,
        page_token: str | None,
    ) -> ListResult:
        """One page of `[after_ms, before_ms)`, newest first; omitted bounds default to all time
        up to now on a first page and to the token's on later pages (§2.6)."""
        validation.check_queue(self.queues, queue, in_path=True)
        size = _bounded(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, "page_size")
        cursor = None
        if page_token:
            bound, cursor = pagetoken.decode(page_token)
            query = pagetoken.ListQuery(
                queue=queue,
                after_ms=bound.after_ms if after_ms is None else after_ms,
                before_ms=bound.before_ms if before_ms is None else before_ms,
            )
            if query != bound:
                raise InvalidRequestError(
                    "page_token belongs to a different query (queue or time window changed)",
                    code="invalid_page_token",
                )
        else:
            query = pagetoken.ListQuery(
                queue=queue,
                after_ms=0 if after_ms is None else after_ms,
                before_ms=self.clock.now_ms() + 1 if before_ms is None else before_ms,
            )
        if query.after_ms >= query.before_ms:
            raise InvalidRequestError("received_at_or_after_ms must be before received_before_ms")
        rows = await asyncio.to_thread(
            self.store.list_queue, queue, query.after_ms, query.before_ms, cursor, size + 1
        )
        more = len(rows) > size
        rows = rows[:size]
        next_cursor = None
        token = None
        if more:
            last = rows[-1]
            next_cursor = Cursor(received_at_ms=last.received_at_ms, number=last.number)
            token = pagetoken.encode(query, next_cursor)
        return ListResult(
            page=Page(summaries=tuple(rows), next_cursor=next_cursor),
            query=query,
            next_page_token=token,
        )


def _status(
    summary: Summary,
    key: str,
    status: RequestStatus,
    timestamp_ms: int,
    metadata: Mapping[str, str] | None = None,
) -> LogEntry:
    return LogEntry(
        queue=summary.queue,
        request_id=summary.request_id,
        key=key,
        timestamp_ms=timestamp_ms,
        status=status,
        metadata=dict(metadata or {}),
    )


def _bounded(value: int, maximum: int, name: str) -> int:
    if not 1 <= value <= maximum:
        raise InvalidRequestError(f"{name} must be 1-{maximum}, got {value}")
    return value
