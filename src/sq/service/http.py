"""The HTTP surface shared by every service: JSON errors, health, readiness, metrics, and the
guard in front of every route (bearer-token scopes, a body size cap)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence

import uvicorn
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Send
from starlette.types import Scope as AsgiScope

from sq.service.access import Access
from sq.service.http_guard import DEFAULT_MAX_BODY_BYTES, guard
from sq.service.http_unavailable import UnavailableMiddleware


class ApiError(Exception):
    """An error a handler wants the client to see: HTTP status, stable code, one-line message."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_body(code: str, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def build_app(
    routers: Sequence[APIRouter],
    ready: Callable[[], bool],
    *,
    access: Access,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    title: str = "sq",
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """Every service's routers on one app; `access` guards all of them (an open `Access()` only
    where nothing but loopback can reach the app). `/metrics` serves `registry` (default: the
    process's default registry). A transient error a route raises answers 503 with
    `Retry-After` (`http_unavailable`); any other unexpected one, 500."""
    app = FastAPI(title=title, version="1", openapi_url="/openapi.json", docs_url="/docs")

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(
            error_body(exc.code, exc.message), status_code=exc.status, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        message = f"{where}: {first.get('msg')}" if where else str(first.get("msg"))
        return JSONResponse(error_body("invalid_request", message), status_code=400)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        code = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed"}.get(
            exc.status_code, "http_error"
        )
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return JSONResponse(
            error_body("internal", "internal error; see the server log"), status_code=500
        )

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ok = ready()
        return JSONResponse({"ready": ok}, status_code=200 if ok else 503)

    app.mount("/metrics", metrics_app(REGISTRY if registry is None else registry))
    for router in routers:
        app.include_router(router)
    app.add_middleware(UnavailableMiddleware)
    guard(app, access, max_body_bytes)
    return app


def metrics_app(registry: CollectorRegistry) -> ASGIApp:
    """The Prometheus text exposition of `registry`, rendered in a thread: its collectors may
    read databases, which must not stall the event loop."""

    async def app(scope: AsgiScope, receive: Receive, send: Send) -> None:
        body = await asyncio.to_thread(generate_latest, registry)
        await Response(body, media_type=CONTENT_TYPE_LATEST)(scope, receive, send)

    return app


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The process owns signals (sq.platform.process): it drains the pipelines first.
        yield


class HttpServer:
    """uvicorn as a lifecycle component."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        self.server = _QuietServer(
            uvicorn.Config(
                app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
            )
        )
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        servers = getattr(self.server, "servers", [])
        for server in servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.server.config.port

    async def start(self) -> None:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()
                raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task
