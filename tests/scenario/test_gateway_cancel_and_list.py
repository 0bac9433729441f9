"""Cancelling (including before the orchestrator has the request) and stable list pages."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.submitqueue.gateway import pagetoken
from sq.submitqueue.gateway.model import Cursor
from support.gateway import gateway_world

pytestmark = pytest.mark.anyio

A = "fake://example.com/a"


async def test_cancel_before_start_is_recorded_and_published(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        sqid = (await w.land(A))["id"]
        response = await w.http.post(f"/api/v1/requests/{sqid}/cancel", json={"reason": "oops"})
        assert response.status_code == 202
        assert response.json()["status"] == "cancelling"
        await w.settle()
        [cancel] = w.cancels.seen
        assert (cancel.message_id, cancel.partition_key) == (sqid, sqid)
        assert cancel.json() == {"id": sqid, "queue": "demo", "reason": "oops"}
        # The orchestrator stores the request only now; its `started` must not hide the cancel.
        w.h.clock.advance(1)
        await w.log(sqid, "started", at_ms=w.h.clock.now_ms(), version=1)
        await w.settle()
        assert (await w.get(f"/requests/{sqid}")).json()["status"] == "cancelling"
        await w.log(sqid, "cancelled", at_ms=w.h.clock.now_ms() + 1, version=2)
        await w.settle()
        summary = (await w.get(f"/requests/{sqid}")).json()
        assert summary["status"] == "cancelled"
        events = (await w.get(f"/requests/{sqid}/history")).json()["events"]
        assert [e["status"] for e in events] == ["accepted", "cancelling", "started", "cancelled"]
        assert events[1]["metadata"] == {"reason": "oops"}


async def test_cancel_twice_publishes_once_and_a_settled_request_refuses(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db) as w:
        sqid = (await w.land(A))["id"]
        for _ in range(2):
            assert (await w.http.post(f"/api/v1/requests/{sqid}/cancel")).status_code == 202
        await w.settle()
        assert len(w.cancels.seen) == 1
        await w.log(sqid, "landed", at_ms=w.h.clock.now_ms() + 5, version=4)
        await w.settle()
        late = await w.http.post(f"/api/v1/requests/{sqid}/cancel")
        assert (late.status_code, late.json()["error"]["code"]) == (409, "already_settled")
        assert (await w.get(f"/requests/{sqid}")).json()["status"] == "landed"


async def test_cancel_of_an_unknown_or_malformed_id(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        for path, status in [("demo/9", 404), ("nope/1", 404), ("demo/x", 400)]:
            response = await w.http.post(f"/api/v1/requests/{path}/cancel")
            assert response.status_code == status, path
        await w.settle()
        assert w.cancels.seen == []


async def test_pages_stay_stable_while_new_requests_arrive(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        for _ in range(5):
            await w.land(A)
        w.h.clock.advance(0.001)
        await w.land(A)  # demo/6, a millisecond later: same-ms ties order by number
        first = (await w.get("/queues/demo/requests", page_size=4)).json()
        assert [r["id"] for r in first["requests"]] == ["demo/6", "demo/5", "demo/4", "demo/3"]
        for _ in range(3):
            await w.land(A)  # arrive while the client pages
        second = (
            await w.get("/queues/demo/requests", page_size=4, page_token=first["next_page_token"])
        ).json()
        assert [r["id"] for r in second["requests"]] == ["demo/2", "demo/1"]
        assert second["next_page_token"] is None
        assert second["received_before_ms"] == first["received_before_ms"]
        everything = (await w.get("/queues/demo/requests")).json()["requests"]
        assert len(everything) == 9


async def test_list_window_and_token_checks(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        start = w.h.clock.now_ms()
        for _ in range(3):
            await w.land(A)
            w.h.clock.advance(1)
        window = await w.get(
            "/queues/demo/requests",
            received_at_or_after_ms=start + 1000,
            received_before_ms=start + 2000,
        )
        assert [r["id"] for r in window.json()["requests"]] == ["demo/2"]
        page = (await w.get("/queues/demo/requests", page_size=1)).json()
        token = page["next_page_token"]
        bound = pagetoken.ListQuery(queue="demo", after_ms=0, before_ms=2**62)
        forged = pagetoken.encode(bound, Cursor(received_at_ms=2**64, number=1))
        cases = [
            ({"page_token": token, "received_before_ms": 5}, "invalid_page_token"),
            ({"page_token": "not-a-token"}, "invalid_request"),
            ({"page_size": 0}, "invalid_request"),
            ({"page_size": 201}, "invalid_request"),
            ({"received_at_or_after_ms": 10, "received_before_ms": 10}, "invalid_request"),
            ({"received_before_ms": 2**63}, "invalid_request"),
            ({"page_token": forged, "received_before_ms": 2**62}, "invalid_request"),
        ]
        for params, code in cases:
            response = await w.get("/queues/demo/requests", **params)
            assert (response.status_code, response.json()["error"]["code"]) == (400, code), params
        other = await w.get("/queues/gitq/requests", page_token=token)
        assert other.json()["error"]["code"] == "invalid_page_token"
        unknown = await w.get("/queues/nope/requests")
        assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "queue_not_found")
