"""The `log` stage's dead letters: reconciled into the history, never stuck, never lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.submitqueue.core.messages import TOPIC_LOG
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
