"""The `log` stage's dead letters: reconciled into the history, never stuck, never lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.submitqueue.core.messages import TOPIC_LOG, LogItem, RequestLog
from support.gateway import gateway_world

pytestmark = pytest.mark.anyio


async def test_a_log_entry_for_an_unknown_request_is_kept_in_the_history(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db) as w:
        await w.land("fake://h/a")
        await w.log("demo/7", "started", at_ms=1, version=1)
        await w.settle(dead_letters=1)
        history = await w.get("/requests/demo/7/history")
        assert [e["status"] for e in history.json()["events"]] == ["started"]
        assert (await w.get("/requests/demo/7")).status_code == 404
        dlq = await w.h.consume(TOPIC_LOG + "_dlq", group="observer", auto_ack=True)
        await w.settle()
        assert [d.message_id for d in dlq.seen] == ["gateway-log:demo/7/started"]


async def test_an_undecodable_log_entry_is_dead_lettered_and_dropped(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db) as w:
        await w.h.publish(TOPIC_LOG, "demo/1", "junk", {"request_id": 5})
        await w.h.publish(
            TOPIC_LOG,
            "demo/1",
            "empty",
            {"request_id": "demo/1", "queue": "demo", "timestamp_ms": 1},
        )
        sqid = (await w.land("fake://h/a"))["id"]
        await w.log(sqid, "started", at_ms=w.h.clock.now_ms() + 1, version=1)
        await w.settle(dead_letters=2)
        assert (await w.get(f"/requests/{sqid}")).json()["status"] == "started"
        dlq = await w.h.consume(TOPIC_LOG + "_dlq", group="observer", auto_ack=True)
        await w.settle()
        assert sorted(d.message_id for d in dlq.seen) == ["gateway-log:empty", "gateway-log:junk"]


def _bundle(sqid: str, at_ms: int) -> RequestLog:
    """What the orchestrator's LogBundle publishes for `started` then `validating`."""
    return RequestLog(
        request_id=sqid,
        queue="demo",
        timestamp_ms=at_ms,
        status="started",
        request_version=1,
        key=f"{sqid}/started",
        more=(LogItem(key=f"{sqid}/validating", timestamp_ms=at_ms + 1, status="validating"),),
    )


async def test_entries_logged_together_are_each_recorded_once(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w:
        sqid = (await w.land("fake://h/a"))["id"]
        at = w.h.clock.now_ms() + 1
        # Under the per-request partition key of releases before the `log` buckets: still
        # recorded once, whatever partition the replay comes on.
        await w.h.publish(TOPIC_LOG, sqid, f"{sqid}/log/1", _bundle(sqid, at))
        await w.log(sqid, "validating", at_ms=at + 1)  # the same entry alone, as a replay
        await w.settle()
        history = (await w.get(f"/requests/{sqid}/history")).json()["events"]
        assert [e["status"] for e in history] == ["accepted", "started", "validating"]
        assert (await w.get(f"/requests/{sqid}")).json()["status"] == "validating"


async def test_entries_logged_together_for_an_unknown_request_stay_in_the_history(
    gateway_db: Path | str,
) -> None:
    async with gateway_world(gateway_db) as w:
        await w.land("fake://h/a")
        await w.h.publish(TOPIC_LOG, "demo/7", "demo/7/log/1", _bundle("demo/7", 1))
        await w.settle(dead_letters=1)
        history = (await w.get("/requests/demo/7/history")).json()["events"]
        assert [e["status"] for e in history] == ["started", "validating"]
