"""The gateway's HTTP API as a client sees it, with the orchestrator played by the test."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sq.platform.errs import RETRY_AFTER_S
from sq.service.access import Access, Scope
from support.gateway import SHA, gateway_world

pytestmark = pytest.mark.anyio

A = "fake://example.com/change-a?sq-files=a.txt"
B = "fake://example.com/change-b"
WRITES_GUARDED = Access.of([("s3cret", Scope.WRITE)], anonymous_reads=True)


def error_code(response: object) -> str:
    code: str = response.json()["error"]["code"]  # type: ignore[attr-defined]
    return code


async def test_land_mints_an_id_publishes_start_and_records_accepted(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db) as w:
        body = await w.land(A, B)
        assert body["id"] == "demo/1"
        assert body["status"] == "accepted"
        assert body["strategy"] == "rebase"
        await w.settle()
        [start] = w.starts.seen
        assert (start.message_id, start.partition_key) == ("demo/1", "demo")
        assert start.json()["change"] == {"uris": [A, B]}
        assert (await w.land(B, strategy="merge"))["id"] == "demo/2"
        history = (await w.get("/requests/demo/1/history")).json()
        assert [e["status"] for e in history["events"]] == ["accepted"]


async def test_land_carries_the_priority_lane_to_the_orchestrator(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db) as w:
        await w.land(A, priority="high")
        await w.land(B)
        await w.settle()
        assert [s.json()["priority"] for s in w.starts.seen] == ["high", "normal"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"queue": "nope", "change_uris": [A]}, 400, "unknown_queue"),
        ({"queue": "demo", "change_uris": []}, 400, "no_changes"),
        ({"queue": "demo", "change_uris": [A, A]}, 400, "duplicate_change_uri"),
        (
            {"queue": "demo", "change_uris": [f"fake://h/c{i}" for i in range(51)]},
            400,
            "too_many_changes",
        ),
        ({"queue": "demo", "change_uris": ["git://Example.com/r/x"]}, 400, "invalid_change_uri"),
        ({"queue": "demo", "change_uris": ["fake://h/" + "x" * 260]}, 400, "invalid_change_uri"),
        (
            {"queue": "gitq", "change_uris": [f"git://h/r/refs/heads/x/{SHA}"]},
            400,
            "invalid_change_uri",
        ),
        ({"queue": "gitq", "change_uris": [A]}, 400, "unsupported_change_uri"),
        ({"queue": "q" * 236, "change_uris": [A]}, 400, "invalid_request"),
        ({"queue": "demo", "change_uris": [A], "strategy": "promote"}, 400, "invalid_request"),
        ({"queue": "demo", "change_uris": [A], "priority": "urgent"}, 400, "invalid_request"),
        ({"queue": "demo"}, 400, "invalid_request"),
    ],
)
async def test_land_refuses_bad_input_and_stores_nothing(
    gateway_db: Path | str, body: dict[str, object], status: int, code: str
) -> None:
    async with gateway_world(gateway_db) as w:
        response = await w.http.post("/api/v1/requests", json=body)
        assert (response.status_code, error_code(response)) == (status, code)
        await w.settle()
        assert w.starts.seen == []
        assert (await w.land(A))["id"] == "demo/1"  # no number was spent


async def test_a_git_queue_takes_canonical_git_uris(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        body = await w.land(f"git://h/r/refs%2Fheads%2Fx/{SHA}", queue="gitq")
        assert body["id"] == "gitq/1"


async def test_orchestrator_log_entries_drive_the_status(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        sqid = (await w.land(A))["id"]
        t = w.h.clock.now_ms()
        await w.log(sqid, "started", at_ms=t + 1, version=1)
        await w.log(sqid, "speculating", at_ms=t + 2, metadata={"batch_id": "demo/batch/1"})
        await w.log(sqid, "building", at_ms=t + 3, kind="event", key=f"{sqid}/building/b1")
        await w.settle()
        summary = (await w.get("/requests/demo/1")).json()
        assert summary["status"] == "speculating"
        assert summary["metadata"] == {"batch_id": "demo/batch/1"}
        await w.log(sqid, "error", at_ms=t + 4, version=2, last_error="build failed")
        await w.settle()
        summary = (await w.get("/requests/demo/1")).json()
        assert (summary["status"], summary["last_error"]) == ("error", "build failed")
        events = (await w.get("/requests/demo/1/history")).json()["events"]
        assert [e["status"] or e["event"] for e in events] == [
            "accepted",
            "started",
            "speculating",
            "building",
            "error",
        ]
        assert events[3]["type"] == "event"
        assert events[3]["status"] is None


async def test_out_of_order_and_duplicate_log_entries_converge(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        sqid = (await w.land(A))["id"]
        t = w.h.clock.now_ms()
        await w.log(sqid, "landed", at_ms=t + 9, version=3)
        await w.log(sqid, "landing", at_ms=t + 8)
        await w.log(sqid, "started", at_ms=t + 1, version=1)
        await w.log(sqid, "landed", at_ms=t + 9, version=3)  # duplicate id: dedups
        await w.log(sqid, "started", at_ms=t + 1, version=1, key=f"{sqid}/started/again")
        await w.settle()
        summary = (await w.get("/requests/demo/1")).json()
        assert summary["status"] == "landed"
        events = (await w.get("/requests/demo/1/history")).json()["events"]
        assert [e["status"] for e in events] == [
            "accepted",
            "started",
            "started",
            "landing",
            "landed",
        ]


async def test_unknown_and_malformed_request_ids(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        await w.land(A)
        for path, status, code in [
            ("/requests/demo/2", 404, "not_found"),
            ("/requests/demo/2/history", 404, "not_found"),
            ("/requests/nope/1", 404, "not_found"),
            ("/requests/demo/x", 400, "invalid_request_id"),
            ("/requests/demo/01", 400, "invalid_request_id"),
            ("/requests/demo/%C2%B9", 400, "invalid_request_id"),  # '¹' is a digit to str.isdigit
            ("/requests/demo/%D9%A3/history", 400, "invalid_request_id"),  # Arabic-Indic 3
        ]:
            response = await w.get(path)
            assert (response.status_code, error_code(response)) == (status, code), path


async def test_a_receipt_whose_start_was_not_published_stays_hidden(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:

        async def broken(*_: object) -> bool:
            raise ConnectionError("queue down")

        w.gateway.publisher.publish = broken  # type: ignore[method-assign]
        response = await w.http.post("/api/v1/requests", json={"queue": "demo", "change_uris": [A]})
        assert (response.status_code, error_code(response)) == (503, "unavailable")
        assert response.headers["Retry-After"] == str(RETRY_AFTER_S)
        assert (await w.get("/requests/demo/1")).status_code == 404
        assert (await w.get("/queues/demo/requests")).json()["requests"] == []
        assert (await w.get("/queues/demo/changes", uri=A)).status_code == 404


async def test_requests_and_histories_by_change_uri(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        for _ in range(10):
            await w.land(A)
            w.h.clock.advance(0.001)
        await w.land(B)
        response = await w.get("/queues/demo/changes", uri=A)
        assert [r["id"] for r in response.json()["requests"]] == [
            f"demo/{n}" for n in range(10, 0, -1)
        ]
        limited = await w.get("/queues/demo/changes", uri=A, limit=3)
        assert [r["id"] for r in limited.json()["requests"]] == ["demo/10", "demo/9", "demo/8"]
        histories = (await w.get("/queues/demo/changes/history", uri=A)).json()["histories"]
        assert [h["id"] for h in histories] == [f"demo/{n}" for n in range(1, 11)]
        assert histories[0]["events"][0]["status"] == "accepted"
        for path in ("/queues/demo/changes", "/queues/demo/changes/history"):
            missing = await w.get(path, uri="fake://example.com/none")
            assert (missing.status_code, error_code(missing)) == (404, "not_found")
            unknown = await w.get(path.replace("demo", "nope"), uri=A)
            assert (unknown.status_code, error_code(unknown)) == (404, "queue_not_found")
            over = await w.get(path, uri=A, limit=101)
            assert (over.status_code, error_code(over)) == (400, "invalid_request")


async def test_queues_and_their_settings(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        queues = (await w.get("/queues")).json()["queues"]
        assert [q["name"] for q in queues] == ["demo", "gitq"]
        gitq = (await w.get("/queues/gitq")).json()
        assert gitq["provider"] == "git"
        assert gitq["settings"]["repository"] == "/srv/git/repo.git"
        assert gitq["settings"]["build"]["timeout"] == 1800.0
        missing = await w.get("/queues/nope")
        assert (missing.status_code, error_code(missing)) == (404, "queue_not_found")


async def test_write_endpoints_need_a_token_when_tokens_are_configured(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db, access=WRITES_GUARDED) as w:
        body = {"queue": "demo", "change_uris": [A]}
        no_token = await w.http.post("/api/v1/requests", json=body)
        assert (no_token.status_code, error_code(no_token)) == (401, "unauthorized")
        wrong = await w.http.post(
            "/api/v1/requests", json=body, headers={"Authorization": "Bearer x"}
        )
        assert wrong.status_code == 401
        good = {"Authorization": "Bearer s3cret"}
        assert (await w.http.post("/api/v1/requests", json=body, headers=good)).status_code == 201
        assert (await w.get("/requests/demo/1")).status_code == 200
        cancel = await w.http.post("/api/v1/requests/demo/1/cancel", json={})
        assert cancel.status_code == 401
        await w.settle()
        assert len(w.starts.seen) == 1
        assert w.cancels.seen == []


async def test_reads_need_a_token_too_unless_anonymous_reads(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db, access=Access.of([("t", Scope.READ)])) as w:
        assert (await w.get("/queues")).status_code == 401
        ok = await w.http.get("/api/v1/queues", headers={"Authorization": "Bearer t"})
        assert ok.status_code == 200


async def test_the_openapi_schema_lists_every_endpoint(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        paths = set((await w.http.get("/openapi.json")).json()["paths"])
        assert {
            "/api/v1/requests",
            "/api/v1/requests/{queue}/{number}",
            "/api/v1/requests/{queue}/{number}/history",
            "/api/v1/requests/{queue}/{number}/cancel",
            "/api/v1/queues",
            "/api/v1/queues/{queue}",
            "/api/v1/queues/{queue}/requests",
            "/api/v1/queues/{queue}/changes",
            "/api/v1/queues/{queue}/changes/history",
        } <= paths


async def test_the_schema_declares_bearer_auth_only_where_a_token_is_checked(
    tmp_path: Path,
) -> None:
    def secured(schema: dict[str, Any]) -> set[tuple[str, str]]:
        return {
            (method.upper(), path)
            for path, operations in schema["paths"].items()
            for method, operation in operations.items()
            if operation.get("security")
        }

    (tmp_path / "open").mkdir()
    async with gateway_world(tmp_path / "open") as w:
        assert secured((await w.http.get("/openapi.json")).json()) == set()
    (tmp_path / "writes").mkdir()
    async with gateway_world(tmp_path / "writes", access=WRITES_GUARDED) as w:
        assert secured((await w.http.get("/openapi.json")).json()) == {
            ("POST", "/api/v1/requests"),
            ("POST", "/api/v1/requests/{queue}/{number}/cancel"),
            ("POST", "/api/v1/queues/{queue}/pause"),
            ("POST", "/api/v1/queues/{queue}/resume"),
            ("POST", "/api/v1/queues/{queue}/drain"),
        }
    (tmp_path / "all").mkdir()
    async with gateway_world(tmp_path / "all", access=Access.of([("t", Scope.READ)])) as w:
        schema = (await w.http.get("/openapi.json")).json()
        every = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
        assert secured(schema) == every


async def test_a_change_uri_with_control_characters_is_refused_before_storage(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db) as w:
        await w.land(A)
        for path in ("/queues/demo/changes", "/queues/demo/changes/history"):
            response = await w.get(path, uri="fake://example.com/a\x00b")
            assert (response.status_code, error_code(response)) == (400, "invalid_request")
