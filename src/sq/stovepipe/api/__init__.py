"""Stovepipe's HTTP API under /api/v1/stovepipe: ingest and the greenness queries (whole
repository, or one project with `project=`).

Queue names contain `/`, so they travel as a body field or a query parameter, never in the path.
Errors use the service-wide shape `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from sq.stovepipe import queries
from sq.stovepipe.controller.ingest import IngestController, RefNotFoundError
from sq.stovepipe.deps import UnknownProjectError, UnknownQueueError
from sq.stovepipe.entity import RequestIDError
from sq.stovepipe.extension.sourcecontrol import InvalidURIError, UnreachableError
from sq.stovepipe.poller import Poller

PREFIX = "/api/v1/stovepipe"

ERRORS: tuple[tuple[type[Exception], int, str], ...] = (
    (UnknownQueueError, 404, "unknown_queue"),
    (UnknownProjectError, 404, "unknown_project"),
    (RefNotFoundError, 404, "ref_not_found"),
    (InvalidURIError, 400, "invalid_uri"),
    (RequestIDError, 400, "invalid_request_id"),
    # 424 Failed Dependency: the request was fine; the queue's repository is not reachable.
    (UnreachableError, 424, "repository_unreachable"),
)


class IngestBody(BaseModel):
    queue: str = Field(min_length=1, max_length=200)


QueueParam = Annotated[str, Query(min_length=1, max_length=200)]


async def _answer(call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await call()
    except tuple(e for e, _, _ in ERRORS) as exc:
        status, code = next((s, c) for e, s, c in ERRORS if isinstance(exc, e))
        return JSONResponse({"error": {"code": code, "message": str(exc)}}, status_code=status)


def router(ingest: IngestController, poller: Poller | None = None) -> APIRouter:
    deps = ingest.deps
    api = APIRouter(prefix=PREFIX, tags=["stovepipe"])

    @api.post("/ingest")
    async def ingest_head(body: IngestBody) -> Any:
        async def run() -> dict[str, str]:
            request = await ingest.ingest(body.queue)
            return {"id": request.id, "queue": request.queue, "uri": request.uri}

        return await _answer(run)

    @api.get("/status")
    async def status(queue: QueueParam) -> Any:
        async def run() -> dict[str, object]:
            found = await queries.status(deps, queue)
            state = poller.states.get(queue) if poller is not None else None
            found["poller"] = (
                None
                if state is None
                else {"last_poll_ms": state.last_poll_ms, "last_error": state.last_error}
            )
            return found

        return await _answer(run)

    @api.get("/greenness")
    async def greenness(
        queue: QueueParam, commit: Annotated[str, Query(min_length=1)], project: str = ""
    ) -> Any:
        return await _answer(lambda: queries.greenness(deps, queue, commit, project))

    @api.get("/last-green")
    async def last_green(queue: QueueParam, project: str = "") -> Any:
        return await _answer(lambda: queries.last_green(deps, queue, project))

    @api.get("/history")
    async def history(
        queue: QueueParam,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        before: str | None = None,
        project: str = "",
    ) -> Any:
        async def run() -> dict[str, object]:
            items = await queries.history(deps, queue, limit=limit, before=before, project=project)
            return {"queue": queue, "project": project, "requests": items}

        return await _answer(run)

    @api.get("/queues")
    async def queue_names() -> dict[str, list[str]]:
        return {"queues": sorted(deps.queues)}

    return api
