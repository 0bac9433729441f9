"""Pause, resume and drain through the gateway's API: who may, what is stored and told to the
orchestrator, and a draining queue refusing new requests with a clear 4xx."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sq.platform.errs import RETRY_AFTER_S
from sq.service.access import Access, Scope
from sq.submitqueue.core.controls_sql import ControlStore
from sq.submitqueue.entity.control import QueueControl, QueueMode
from sq.submitqueue.gateway import controls
from sq.submitqueue.gateway.storage.schema import queue_control
from support.gateway import gateway_world

pytestmark = pytest.mark.anyio

A = "fake://example.com/change-a"
B = "fake://example.com/change-b"


async def test_drain_refuses_new_requests_until_resumed(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        await w.land(A)
        drained = await w.http.post("/api/v1/queues/demo/drain", json={"reason": "release"})
        assert drained.status_code == 200, drained.text
        assert drained.json()["mode"] == "draining"
        assert drained.json()["reason"] == "release"

        refused = await w.http.post("/api/v1/requests", json={"queue": "demo", "change_uris": [B]})
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "queue_draining"
        assert "draining" in refused.json()["error"]["message"]
        other = await w.http.post(
            "/api/v1/requests", json={"queue": "gitq", "change_uris": []}
        )  # other queues are untouched (this one fails validation, not the drain)
        assert other.json()["error"]["code"] == "no_changes"

        resumed = await w.http.post("/api/v1/queues/demo/resume")
        assert resumed.json()["mode"] == "active"
        assert (await w.land(B))["id"] == "demo/2"
        await w.settle()
        told = [(d.message_id, d.json()["mode"]) for d in w.control_changes.seen]
        assert told == [("demo/control/1", "draining"), ("demo/control/2", "active")]
        listed = (await w.get("/controls")).json()["controls"]
        assert [(c["queue"], c["mode"]) for c in listed] == [("demo", "active"), ("gitq", "active")]


async def test_pause_is_stored_and_told_once_per_change(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        first = (await w.http.post("/api/v1/queues/demo/pause")).json()
        again = (await w.http.post("/api/v1/queues/demo/pause")).json()
        assert first["version"] == again["version"] == 1
        assert (await w.get("/queues/demo/control")).json()["mode"] == "paused"
        assert (await w.land(A))["status"] == "accepted"  # paused still accepts requests
        await w.settle()
        assert [d.message_id for d in w.control_changes.seen] == ["demo/control/1"]
        missing = await w.http.post("/api/v1/queues/nope/pause")
        assert (missing.status_code, missing.json()["error"]["code"]) == (404, "queue_not_found")
        misspelt = await w.http.post("/api/v1/queues/demo/pause", json={"reasn": "typo"})
        assert misspelt.status_code in (400, 422) and "error" in misspelt.json()


async def test_controls_need_the_admin_scope(gateway_db: Path | str) -> None:
    access = Access.of([("writer", Scope.WRITE), ("boss", Scope.ADMIN)])
    async with gateway_world(gateway_db, access=access) as w:
        as_writer = {"Authorization": "Bearer writer"}
        denied = await w.http.post("/api/v1/queues/demo/drain", headers=as_writer)
        assert denied.status_code == 403
        assert denied.json()["error"]["code"]
        allowed = await w.http.post(
            "/api/v1/queues/demo/drain", headers={"Authorization": "Bearer boss"}
        )
        assert allowed.status_code == 200
        seen = await w.http.get("/api/v1/queues/demo/control", headers=as_writer)
        assert seen.json()["mode"] == "draining"


async def test_a_change_whose_publish_failed_is_told_when_the_call_is_repeated(
    gateway_db: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gateway_world(gateway_db) as w:
        publish = w.h.queue.publish

        async def down(*args: object, **kwargs: object) -> bool:
            raise ConnectionError("queue down")

        monkeypatch.setattr(w.h.queue, "publish", down)
        failed = await w.http.post("/api/v1/queues/demo/pause")
        assert (failed.status_code, failed.json()["error"]["code"]) == (503, "unavailable")
        assert failed.headers["Retry-After"] == str(RETRY_AFTER_S)
        monkeypatch.setattr(w.h.queue, "publish", publish)
        again = await w.http.post("/api/v1/queues/demo/pause")
        assert (again.status_code, again.json()["version"]) == (200, 1)
        await w.settle()
        assert [d.message_id for d in w.control_changes.seen] == ["demo/control/1"]


async def test_a_drain_set_by_another_instance_is_seen_within_a_second(
    gateway_db: Path | str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with gateway_world(gateway_db) as w:
        await w.land(A)  # this instance has read the mode: active
        other = ControlStore(w.store.engine, queue_control)  # another gateway's write
        other.save_control(
            QueueControl(queue="demo", mode=QueueMode.DRAINING, version=1), expected_version=0
        )
        later = time.monotonic() + controls.FRESH_S + 0.5
        monkeypatch.setattr(controls.time, "monotonic", lambda: later)
        refused = await w.http.post("/api/v1/requests", json={"queue": "demo", "change_uris": [B]})
        assert (refused.status_code, refused.json()["error"]["code"]) == (409, "queue_draining")
