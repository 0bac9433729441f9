"""The dashboard's files are served from the package without a token (they hold no data), while
every API call the page makes still needs one."""

from __future__ import annotations

import httpx2
import pytest

from sq.service.access import Access, Scope
from sq.service.dashboard import STATIC, dashboard_router
from sq.service.http import build_app

pytestmark = pytest.mark.anyio


async def test_the_page_is_open_and_the_data_is_not() -> None:
    app = build_app([dashboard_router()], ready=lambda: True, access=Access.of([("t", Scope.READ)]))
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
        home = await http.get("/ui")
        assert (home.status_code, home.headers["location"]) == (307, "/ui/")
        page = await http.get("/ui/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script src="app.js">' in page.text
        for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
            served = await http.get(f"/ui/{name}")
            assert served.headers["content-type"].startswith(kind)
            assert served.text == (STATIC / name).read_text()
        assert (await http.get("/api/v1/controls")).status_code == 401
        assert (await http.get("/ui/secret.txt")).status_code == 404


async def test_a_dot_dot_path_under_ui_reaches_no_api_route() -> None:
    """The auth layer lets `/ui/…` through unread; routing must then match nothing else."""
    app = build_app([dashboard_router()], ready=lambda: True, access=Access.of([("t", Scope.READ)]))
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    for raw in ("/ui/../metrics", "/ui/../api/v1/controls", "/ui/%2e%2e/metrics"):
        sent.clear()
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
            "scheme": "http", "path": raw, "raw_path": raw.encode(), "root_path": "",
            "query_string": b"", "headers": [], "client": ("127.0.0.1", 1),
            "server": ("sq", 80),
        }  # fmt: skip
        await app(scope, receive, send)  # type: ignore[arg-type]
        assert sent[0]["status"] == 404, raw
