"""Every service's HTTP API in one process, as `sq serve` builds it, with tokens configured: every
route that is not health, readiness or the schema answers 401 without a token — the write routes
enumerated from the OpenAPI document and from the app's route table, so that a new route, or one
left out of the schema, cannot slip through — and each scope opens exactly its share."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import APIRouter, FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from sq.service.access import Access, Scope
from sq.service.http import build_app
from sq.service.settings import Settings
from sq.service.settings_auth import AuthSettings, HttpSettings, TokenSource
from sq.service.stack import LocalStack, service_names

pytestmark = pytest.mark.anyio

TOKENS = {Scope.READ: "read-t0ken", Scope.WRITE: "write-t0ken", Scope.ADMIN: "admin-t0ken"}
READS = frozenset({"GET", "HEAD"})
OPEN = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
DASHBOARD = {"/ui", "/ui/", "/ui/index.html", "/ui/app.js", "/ui/style.css"}
"""The dashboard's static files: open, since they hold no data (its API calls need a token)."""
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
KNOWN_WRITES = {
    ("POST", "/api/v1/requests"),
    ("POST", "/api/v1/requests/{queue}/{number}/cancel"),
    ("POST", "/api/v1/stovepipe/ingest"),
    ("POST", "/api/v1/hooks/replay"),
    ("POST", "/api/v1/queues/{queue}/pause"),
    ("POST", "/api/v1/queues/{queue}/resume"),
    ("POST", "/api/v1/queues/{queue}/drain"),
}
LAND = {"queue": "demo", "change_uris": ["fake://example.com/change-a"]}


def bearer(scope: Scope) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[scope]}"}


@contextmanager
def settings_with_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **http: Any
) -> Iterator[Settings]:
    sources = [TokenSource(env=f"SQ_TEST_{s.upper()}_TOKEN", scope=s) for s in Scope]
    for source in sources:
        monkeypatch.setenv(source.env, TOKENS[source.scope])
    yield Settings(
        data_dir=tmp_path / "data",
        port=0,
        auth=AuthSettings(tokens=sources),
        http=HttpSettings(**http),
    )


@asynccontextmanager
async def served(settings: Settings, names: list[str]) -> AsyncIterator[httpx2.AsyncClient]:
    stack = LocalStack(settings, names, "127.0.0.1", 0)
    try:
        transport = httpx2.ASGITransport(app=stack.app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
            yield http
    finally:
        await stack.close()


def filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def schema_writes(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method.upper() not in READS
    }


def table_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every route the app dispatches to; a mount takes every method."""
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, Mount):
            found |= {(m, route.path + "/") for m in (*WRITE_METHODS, "GET")}
        else:
            found |= {(m, str(route.path)) for m in route.methods or ()}
    return found


async def assert_unauthorized(http: httpx2.AsyncClient, method: str, path: str) -> None:
    response = await http.request(method, filled(path), json={})
    assert response.status_code == 401, (method, path, response.text)
    assert response.json()["error"]["code"] == "unauthorized", (method, path)
    assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)


@pytest.mark.parametrize("names", [[n] for n in service_names()] + [service_names()])
async def test_every_write_route_answers_401_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, names: list[str]
) -> None:
    with settings_with_tokens(tmp_path, monkeypatch) as settings:
        stack = LocalStack(settings, names, "127.0.0.1", 0)
        app = stack.app
        await stack.close()
    routes = table_routes(app)
    from_schema = schema_writes(app)
    assert from_schema <= routes
    writes = from_schema | {(m, p) for m, p in routes if m not in READS}
    if names == service_names():
        assert writes >= KNOWN_WRITES
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
        for method, path in sorted(writes):
            await assert_unauthorized(http, method, path)
            bad = await http.request(method, filled(path), headers={"Authorization": "Bearer x"})
            assert bad.status_code == 401, (method, path)


async def test_every_read_route_but_health_and_schema_needs_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with settings_with_tokens(tmp_path, monkeypatch) as settings:
        stack = LocalStack(settings, service_names(), "127.0.0.1", 0)
        app = stack.app
        await stack.close()
    reads = {(m, p) for m, p in table_routes(app) if m == "GET"}
    assert ("GET", "/metrics/") in reads
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
        for method, path in sorted(reads):
            if path in OPEN | DASHBOARD:
                response = await http.get(path)
                assert response.status_code in (200, 307, 503), path
            else:
                await assert_unauthorized(http, method, path)
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        metrics = await http.get("/metrics/", headers=bearer(Scope.READ))
        assert metrics.status_code == 200
        assert "python_info" in metrics.text


async def test_a_route_left_out_of_the_schema_is_guarded_too() -> None:
    hidden = APIRouter()

    @hidden.post("/api/v1/hidden", include_in_schema=False)
    async def hidden_write() -> dict[str, str]:
        return {"ok": "yes"}

    app = build_app([hidden], ready=lambda: True, access=Access.of([("t", Scope.WRITE)]))
    assert schema_writes(app) == set()
    assert ("POST", "/api/v1/hidden") in table_routes(app)
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
        await assert_unauthorized(http, "POST", "/api/v1/hidden")
        ok = await http.post("/api/v1/hidden", headers={"Authorization": "Bearer t"})
        assert ok.json() == {"ok": "yes"}


async def test_read_cannot_write_and_write_cannot_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with settings_with_tokens(tmp_path, monkeypatch) as settings:
        async with served(settings, service_names()) as http:
            assert (await http.get("/api/v1/queues", headers=bearer(Scope.READ))).status_code == 200
            denied = await http.post("/api/v1/requests", json=LAND, headers=bearer(Scope.READ))
            assert (denied.status_code, denied.json()["error"]["code"]) == (403, "forbidden")
            ingest = await http.post(
                "/api/v1/stovepipe/ingest", json={"queue": "q"}, headers=bearer(Scope.READ)
            )
            assert ingest.status_code == 403

            landed = await http.post("/api/v1/requests", json=LAND, headers=bearer(Scope.WRITE))
            assert landed.status_code == 201, landed.text
            replay = {"event_id": "nothing/1"}
            denied = await http.post(
                "/api/v1/hooks/replay", json=replay, headers=bearer(Scope.WRITE)
            )
            assert (denied.status_code, denied.json()["error"]["code"]) == (403, "forbidden")
            assert "admin" in denied.json()["error"]["message"]

            admin = await http.post(
                "/api/v1/hooks/replay", json=replay, headers=bearer(Scope.ADMIN)
            )
            assert (admin.status_code, admin.json()["error"]["code"]) == (404, "not_found")
            cancel = await http.post("/api/v1/requests/demo/1/cancel", headers=bearer(Scope.ADMIN))
            assert cancel.status_code == 202


async def test_a_refused_token_is_not_echoed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with settings_with_tokens(tmp_path, monkeypatch) as settings:
        async with served(settings, ["gateway"]) as http:
            wrong = "not-the-admin-t0ken"
            response = await http.post(
                "/api/v1/requests", json=LAND, headers={"Authorization": f"Bearer {wrong}"}
            )
            assert response.status_code == 401
            assert wrong not in response.text
            assert wrong not in str(response.headers)


async def test_a_body_over_the_limit_gets_413(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert Settings().http.max_body_bytes == 1 << 20
    with settings_with_tokens(tmp_path, monkeypatch) as settings:
        async with served(settings, ["gateway"]) as http:
            padding = "x" * (1 << 20)
            big = {**LAND, "padding": padding}
            response = await http.post("/api/v1/requests", json=big, headers=bearer(Scope.WRITE))
            assert response.status_code == 413
            assert response.json()["error"]["code"] == "body_too_large"
            ok = await http.post("/api/v1/requests", json=LAND, headers=bearer(Scope.WRITE))
            assert ok.status_code == 201


@pytest.mark.parametrize("chunked", [True, False])
async def test_a_body_over_the_limit_gets_413_from_the_real_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunked: bool
) -> None:
    """Past the server's read buffer (64 KiB), so the rest of the body must be discarded for the
    answer to arrive, and the connection still serves the next request."""
    head, tail = b'{"queue": "demo", "change_uris": ["fake://example.com/a"], "pad": "', b'"}'

    async def chunks() -> AsyncIterator[bytes]:
        yield head
        for _ in range(1024):
            yield b"x" * 1024
        yield tail

    body = chunks() if chunked else head + b"x" * (1 << 20) + tail
    with settings_with_tokens(tmp_path, monkeypatch, max_body_bytes=4096) as settings:
        stack = LocalStack(settings, ["gateway"], "127.0.0.1", 0)
        await stack.http.start()
        try:
            async with httpx2.AsyncClient(base_url=stack.address) as http:
                response = await http.post(
                    "/api/v1/requests", content=body, headers=bearer(Scope.WRITE)
                )
                assert response.status_code == 413
                assert response.json()["error"]["code"] == "body_too_large"
                again = await http.post("/api/v1/requests", json=LAND, headers=bearer(Scope.WRITE))
                assert again.status_code == 201
        finally:
            await stack.http.stop()
            await stack.close()
