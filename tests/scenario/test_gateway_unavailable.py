"""The gateway when its PostgreSQL refuses connections (down, restarting, full): every call
answers 503 with the JSON error body and `Retry-After`, and nothing is published."""

from __future__ import annotations

import pytest

from sq.platform.errs import RETRY_AFTER_S
from support.databases import refused_postgres_url
from support.gateway import gateway_world

pytestmark = pytest.mark.anyio

A = "fake://example.com/change-a"


async def test_a_database_that_refuses_connections_answers_503_not_500() -> None:
    with refused_postgres_url() as url:
        async with gateway_world(url, migrate=False) as w:
            responses = [
                await w.http.post("/api/v1/requests", json={"queue": "demo", "change_uris": [A]}),
                await w.get("/requests/demo/1"),
                await w.get("/requests/demo/1/history"),
                await w.get("/queues/demo/requests"),
                await w.http.post("/api/v1/requests/demo/1/cancel", json={"reason": "x"}),
                await w.http.get("/api/v1/controls"),
            ]
            await w.settle()
            assert w.starts.seen == []
            assert w.cancels.seen == []
    for response in responses:
        assert response.status_code == 503, (response.request.url, response.text)
        assert response.json()["error"]["code"] == "unavailable"
        assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
