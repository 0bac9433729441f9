"""The gateway's HTTP API under `/api/v1` (JSON; errors are `{"error": {"code", "message"}}`)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from sq.submitqueue.gateway import wire
from sq.submitqueue.gateway.errors import GatewayError, NotFoundError
from sq.submitqueue.gateway.model import MAX_BIGINT
from sq.submitqueue.gateway.service import DEFAULT_PAGE_SIZE, MAX_BY_CHANGE, MAX_PAGE_SIZE, Gateway

PREFIX = "/api/v1"
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": wire.ErrorBody, "description": text}
    for status, text in (
        (400, "Invalid input; nothing was stored or published"),
        (404, "No such request, change or queue"),
        (409, "The request has already settled"),
        (503, "The message queue or the database is unavailable; retry after `Retry-After`"),
    )
}


_Number = Annotated[
    str,
    Path(
        description="The request's number in its queue",
        json_schema_extra={"pattern": "^[1-9][0-9]*$"},
    ),
]


class _ErrorMappingRoute(APIRoute):
    """Turns a GatewayError raised by a handler or dependency into the shared error body."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except GatewayError as exc:
                body = {"error": {"code": exc.code, "message": exc.message}}
                return JSONResponse(body, status_code=exc.status, headers=exc.headers)

        return handle


def build_router(gateway: Gateway) -> APIRouter:
    """Tokens are checked in front of every route by the service layer (`sq.service.access`)."""
    router = APIRouter(prefix=PREFIX, route_class=_ErrorMappingRoute, responses=_ERRORS)

    @router.post("/requests", status_code=201, tags=["requests"])
    async def land(body: wire.LandBody) -> wire.RequestSummary:
        """Queue changes (an ordered stack of change URIs) to land; returns the new request."""
        summary = await gateway.land(
            body.queue, body.change_uris, body.strategy, priority=body.priority
        )
        return wire.RequestSummary.of(summary)

    @router.get("/requests/{queue}/{number}", tags=["requests"])
    async def status(queue: str, number: _Number) -> wire.RequestSummary:
        """The current status of request `<queue>/<number>`."""
        return wire.RequestSummary.of(await gateway.summary(f"{queue}/{number}"))

    @router.get("/requests/{queue}/{number}/history", tags=["requests"])
    async def history(queue: str, number: _Number) -> wire.History:
        """Every status change and event of a request, oldest first."""
        sqid = f"{queue}/{number}"
        return wire.History(
            id=sqid, events=[wire.HistoryEvent.of(e) for e in await gateway.history(sqid)]
        )

    @router.post("/requests/{queue}/{number}/cancel", status_code=202, tags=["requests"])
    async def cancel(
        queue: str, number: _Number, body: wire.CancelBody | None = None
    ) -> wire.RequestSummary:
        """Ask for a request to be cancelled. Accepted is not cancelled: it may still land."""
        summary = await gateway.cancel(f"{queue}/{number}", body.reason if body else "")
        return wire.RequestSummary.of(summary)

    @router.get("/queues", tags=["queues"])
    async def queues() -> wire.Queues:
        """The configured queues and their settings."""
        return wire.Queues(queues=[wire.Queue.of(q) for _, q in sorted(gateway.queues.items())])

    @router.get("/queues/{queue}", tags=["queues"])
    async def queue(queue: str) -> wire.Queue:
        info = gateway.queues.get(queue)
        if info is None:
            raise NotFoundError(f"unknown queue {queue!r}", code="queue_not_found")
        return wire.Queue.of(info)

    @router.get("/queues/{queue}/requests", tags=["queues"])
    async def list_requests(
        queue: str,
        received_at_or_after_ms: Annotated[int | None, Query(ge=0, le=MAX_BIGINT)] = None,
        received_before_ms: Annotated[int | None, Query(ge=1, le=MAX_BIGINT)] = None,
        page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
        page_token: Annotated[str | None, Query(max_length=1024)] = None,
    ) -> wire.RequestPage:
        """Requests received in `[received_at_or_after_ms, received_before_ms)`, newest first.
        Pass `next_page_token` back (with the same bounds, or none) for the next page."""
        result = await gateway.list(
            queue, received_at_or_after_ms, received_before_ms, page_size, page_token
        )
        return wire.RequestPage(
            queue=queue,
            received_at_or_after_ms=result.query.after_ms,
            received_before_ms=result.query.before_ms,
            requests=[wire.RequestSummary.of(s) for s in result.page.summaries],
            next_page_token=result.next_page_token,
        )

    @router.get("/queues/{queue}/changes", tags=["queues"])
    async def by_change(
        queue: str,
        uri: Annotated[str, Query(min_length=1, max_length=255)],
        limit: Annotated[int, Query(ge=1, le=MAX_BY_CHANGE)] = MAX_BY_CHANGE,
    ) -> wire.ChangeRequests:
        """Every request for one change URI, newest first."""
        found = await gateway.by_change(queue, uri, limit)
        return wire.ChangeRequests(
            change_uri=uri, requests=[wire.RequestSummary.of(s) for s in found]
        )

    @router.get("/queues/{queue}/changes/history", tags=["queues"])
    async def by_change_history(
        queue: str,
        uri: Annotated[str, Query(min_length=1, max_length=255)],
        limit: Annotated[int, Query(ge=1, le=MAX_BY_CHANGE)] = MAX_BY_CHANGE,
    ) -> wire.ChangeHistories:
        """The history of every request for one change URI, oldest request first."""
        found = await gateway.histories_by_change(queue, uri, limit)
        histories = [
            wire.History(id=sqid, events=[wire.HistoryEvent.of(e) for e in events])
            for sqid, events in found
        ]
        return wire.ChangeHistories(change_uri=uri, histories=histories)

    return router
