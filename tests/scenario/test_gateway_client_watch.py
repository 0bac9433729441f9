"""The client against an in-process gateway, and the watch view rendered to recorded consoles."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest
from rich.console import Console

from sq.submitqueue.client.http import ClientError, GatewayClient
from sq.submitqueue.client.render import verdict
from sq.submitqueue.client.trail import TIMES, trail_of
from sq.submitqueue.client.watch import Watch, follow_plain
from support.gateway import World, gateway_world

pytestmark = pytest.mark.anyio


def client_of(w: World) -> GatewayClient:
    app = w.http._transport.app  # type: ignore[attr-defined]
    return GatewayClient("http://gateway", transport=httpx2.ASGITransport(app=app))


def test_trail_collapses_statuses_and_counts_events() -> None:
    events = [{"type": "status", "status": s} for s in ("accepted", "started", "started")]
    events += [{"type": "event", "event": e} for e in ("building",) * 8 + ("built",) * 8]
    events += [{"type": "event", "event": "waiting"}, {"type": "status", "status": "landed"}]
    events += [{"type": "event", "event": "built"}]
    trail = trail_of(events)
    assert trail.stages == (
        f"accepted → started [building {TIMES}8, built {TIMES}8, waiting] → landed [after: built]"
    )
    assert trail.settled
    assert trail_of([]).stages == "…"


async def test_client_calls_and_exit_codes(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w, client_of(w) as client:
        body = await client.land("demo", ["fake://h/a"], None)
        assert body["id"] == "demo/1"
        assert (await client.status("demo/1"))["status"] == "accepted"
        assert len(await client.list_requests("demo", limit=0)) == 1
        for call, exit_code in [
            (client.status("demo/2"), 1),
            (client.land("demo", ["nope"], None), 2),
            (client.cancel("demo/x", ""), 2),
        ]:
            with pytest.raises(ClientError) as caught:
                await call
            assert caught.value.exit_code == exit_code
    unreachable = GatewayClient("http://127.0.0.1:1", timeout=2)
    with pytest.raises(ClientError) as caught:
        await unreachable.status("demo/1")
    assert caught.value.exit_code == 3


async def test_list_follows_page_tokens(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w, client_of(w) as client:
        for _ in range(205):
            await w.land("fake://h/a")
        rows = await client.list_requests("demo", limit=0)
        assert [r["id"] for r in rows[:2]] == ["demo/205", "demo/204"]
        assert len(rows) == 205
        assert len(await client.list_requests("demo", limit=201)) == 201


async def test_watch_follows_until_settled_and_renders_each_change(gateway_db: Path | str) -> None:
    async with gateway_world(gateway_db) as w, client_of(w) as client:
        a = (await w.land("fake://h/a"))["id"]
        b = (await w.land("fake://h/b"))["id"]
        t = w.h.clock.now_ms()
        script = [
            [(a, "started", 1, "status", "")],
            [(a, "building", 0, "event", ""), (b, "started", 1, "status", "")],
            [(a, "landed", 3, "status", ""), (b, "error", 2, "status", "conflict with demo/1")],
        ]

        async def step(_: float) -> None:
            for sqid, value, version, kind, error in script.pop(0):
                await w.log(
                    sqid,
                    value,
                    at_ms=t + 1000 * (3 - len(script)),
                    version=version,
                    kind=kind,
                    last_error=error,
                )
            await w.settle()

        console = Console(record=True, width=120, force_terminal=False, color_system=None)
        watch = Watch(client, [a, b])
        await follow_plain(watch, console, interval=0, sleep=step, now_ms=lambda: t + 5000)
        text = console.export_text()
        blocks = [b for b in text.split("\n\n") if b.strip()]
        assert len(blocks) == 4
        assert "0 of 2 settled" in blocks[0]
        assert "accepted → started [building]" in blocks[2]
        last = blocks[-1]
        assert "demo/1" in last and "accepted → started [building] → landed" in last
        assert "accepted → started → error" in last and "conflict with demo/1" in last
        assert "3s" in last  # elapsed stops at the settling entry's time
        ok, line = verdict(list(watch.rows.values()))
        assert not ok
        assert line == "1 of 2 request(s) did not land — demo/2=error: conflict with demo/1"


async def test_watch_gives_up_on_a_request_the_gateway_never_knew(gateway_db: Path | str) -> None:
    """`sq watch demo/99999` printed "0 of 1 settled" forever. A request not found yet may just
    be new (its log not read); after the grace it is an error naming it, while a known one
    shown beside it stays shown."""
    async with gateway_world(gateway_db) as w, client_of(w) as client:
        known = (await w.land("fake://h/a"))["id"]
        clock = [0]
        watch = Watch(
            client, [known, "demo/99999"], missing_grace_ms=30_000, now_ms=lambda: clock[0]
        )
        console = Console(record=True, width=120, force_terminal=False, color_system=None)

        async def tick(_: float) -> None:
            clock[0] += 10_000

        with pytest.raises(ClientError) as caught:
            await follow_plain(watch, console, interval=0, sleep=tick, now_ms=lambda: clock[0])
        assert caught.value.exit_code == 1
        assert caught.value.message == "no request demo/99999: the gateway does not know it"
        assert clock[0] == 30_000
        assert watch.rows[known].changes == ("fake://h/a",)
