"""ASGI layers in front of every route of an app (mounts and routes outside the schema included):
bearer-token scopes (`sq.service.access`) and a cap on request bodies."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from fastapi.routing import RouteContext, iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from sq.service.access import SCOPE_KEY, Access, Scope

DEFAULT_MAX_BODY_BYTES = 1 << 20
Declared = list[tuple[RouteContext, Scope]]
_ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            "required": ["code", "message"],
        }
    },
    "required": ["error"],
}


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _header(scope: AsgiScope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def declared_routes(routes: list[BaseRoute]) -> Declared:
    """The routes that declare a scope in their `openapi_extra`, with it."""
    # FastAPI keeps included routers nested; iter_route_contexts flattens them with their prefixes.
    found: Declared = []
    for route in iter_route_contexts(routes):
        declared = (getattr(route, "openapi_extra", None) or {}).get(SCOPE_KEY)
        if declared is not None:
            found.append((route, Scope(declared)))
    return found


def declared_scope(declared: Declared, scope: AsgiScope) -> Scope | None:
    # Matching only the declared few keeps this cheap: walking every route cost ~70 µs a call.
    for route, needed in declared:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            return needed
    return None


class AuthMiddleware:
    """Answers 401/403 before any route runs unless the call carries a token with its scope."""

    def __init__(self, app: ASGIApp, access: Access, declared: Declared) -> None:
        self.app, self.access, self.declared = app, access, declared

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.access.enabled or Access.is_open_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        needed = self.access.needed(scope["method"], declared_scope(self.declared, scope))
        denial = self.access.check(needed, _header(scope, b"authorization"))
        if denial is None:
            await self.app(scope, receive, send)
            return
        response = _error(
            denial.status, denial.code, denial.message, {"WWW-Authenticate": denial.challenge}
        )
        await response(scope, receive, send)


class BodyTooLargeError(Exception):
    pass


class BodyLimitMiddleware:
    """413 for a body over `max_bytes`: refused on its Content-Length before a byte is read, and
    cut off as soon as a chunked body passes the cap."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        exceeded = started = False

        async def capped() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    exceeded = True
                    raise BodyTooLargeError
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            # Whatever the app answers to a body cut short (400, 500) gives way to the 413.
            if exceeded and not started:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, capped, guarded)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        message = f"the request body is over the limit of {self.max_bytes} bytes"
        await _error(413, "body_too_large", message)(scope, receive, send)


def guard(app: FastAPI, access: Access, max_body_bytes: int) -> None:
    """Put both layers in front of every route of `app`, and say in its schema what they ask.
    Call it once every router is included: the routes that declare a scope are read here."""
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    declared = declared_routes(app.router.routes)
    app.add_middleware(AuthMiddleware, access=access, declared=declared)
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document(build(), access)
        return build()

    app.openapi = openapi  # type: ignore[method-assign]


def _document(schema: dict[str, Any], access: Access) -> None:
    if not access.enabled:
        return
    schema.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from an environment variable named in the server's `auth`",
    }
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            needed = access.needed(method, operation.get(SCOPE_KEY))
            if needed is None:
                continue
            operation[SCOPE_KEY] = needed.value
            operation["security"] = [{"bearer": []}]
            responses = operation.setdefault("responses", {})
            for status, description in (
                ("401", "No bearer token, or one that is not accepted"),
                ("403", f"The token lacks the {needed} scope"),
            ):
                responses[status] = {
                    "description": description,
                    "content": {"application/json": {"schema": _ERROR_SCHEMA}},
                }
