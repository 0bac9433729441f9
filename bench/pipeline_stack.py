"""The SubmitQueue stack that `bench/pipeline_overhead.py` drives: gateway, orchestrator and runway
in this process on the databases given, landing requests through the gateway's HTTP API over
ASGI (no socket), with the per-run figures the benchmark reports."""

from __future__ import annotations

import asyncio
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from sq.platform import migrations
from sq.platform.lifecycle import Group
from sq.platform.messagequeue.model import DLQ_SUFFIX
from sq.platform.messagequeue.sql.admin import QueueAdmin
from sq.service import services  # noqa: F401  (registers every service builder)
from sq.service.access import Access
from sq.service.http import build_app
from sq.service.runtime import SERVICES, Runtime
from sq.service.settings import Settings

QUEUE = "demo"
STACK = ("gateway", "orchestrator", "runway")
TERMINAL = {"landed", "error", "cancelled"}


class BenchRuntime(Runtime):
    """A Runtime whose services keep their tables at the URLs given (one database each)."""

    def __init__(self, settings: Settings, urls: dict[str, str]) -> None:
        super().__init__(settings)
        self._urls = urls

    def engine_for(
        self, service: str, *schemas: migrations.SchemaSet, url: str | None = None
    ) -> Any:
        return super().engine_for(service, *schemas, url=url or self._urls.get(service))


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    backend: str
    requests: int
    landed: int
    wall_s: float
    latencies_ms: list[float]
    messages: dict[str, int]
    dead_letters: int
    queue_rates: dict[int, float]
    cpu_s: float = math.nan
    """CPU seconds this process (every thread of the stack) spent while the requests went
    through: the stack's own cost, which the machine's load and the database server's speed
    move far less than they move the queue's rate (`vs_ceiling`)."""

    @property
    def cpu_ms_per_landed(self) -> float:
        return self.cpu_s * 1000 / self.landed if self.landed else math.nan

    @property
    def landed_per_min(self) -> float:
        return self.landed / self.wall_s * 60 if self.wall_s else math.nan

    @property
    def messages_per_landed(self) -> float:
        return sum(self.messages.values()) / self.landed if self.landed else math.nan

    @property
    def queue_rate(self) -> float:
        return max(self.queue_rates.values())

    @property
    def ceiling_per_min(self) -> float:
        return self.queue_rate * 60 / self.messages_per_landed

    @property
    def vs_ceiling(self) -> float:
        return self.landed_per_min / self.ceiling_per_min


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def settings_for(data_dir: Path, urls: dict[str, str]) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": data_dir,
            "log": {"level": "error"},
            "mq": {"url": urls.get("queue")},
            "submitqueue": {"gateway_database_url": urls.get("gateway")},
        }
    )


async def submit(http: httpx2.AsyncClient, numbers: range, clients: int) -> list[dict[str, Any]]:
    """Land one change per number over `clients` concurrent clients; the accepted summaries."""
    todo = iter(numbers)
    accepted: list[dict[str, Any]] = []

    async def client() -> None:
        for i in todo:
            body = {"queue": QUEUE, "change_uris": [f"fake://bench.example/change-{i}"]}
            response = await http.post("/api/v1/requests", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"land refused: {response.status_code} {response.text}")
            accepted.append(response.json())

    await asyncio.gather(*(client() for _ in range(clients)))
    return accepted


async def received_since(http: httpx2.AsyncClient, after_ms: int) -> list[dict[str, Any]]:
    """Every request received at or after `after_ms`, through the list API's pages; a page the
    gateway fails to answer raises `httpx2.HTTPStatusError`."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": 200, "received_at_or_after_ms": after_ms}
    while True:
        response = await http.get(f"/api/v1/queues/{QUEUE}/requests", params=params)
        page = response.raise_for_status().json()
        rows += page["requests"]
        if not page.get("next_page_token"):
            return rows
        params = {
            "page_size": 200,
            "page_token": page["next_page_token"],
            "received_at_or_after_ms": page["received_at_or_after_ms"],
            "received_before_ms": page["received_before_ms"],
        }


POLL_S = 0.1
POLL_ROWS = 20


def poll_pause(unsettled: int) -> float:
    """Seconds between two looks at the list: 0.1 s while at most `POLL_ROWS` requests are
    unsettled, longer in proportion beyond. The list is read through the stack's own API in this
    process, so each look costs the stack CPU in proportion to the rows it returns: at 300 in
    flight, a look every 0.1 s was a client no user runs, and about 4 % of the busy samples of a
    deep run (py-spy, ninth session). The figures come from the gateway's own timestamps
    (`status_at_ms`), so a longer pause only delays noticing the end of a run; the shallow run,
    which refills as requests settle, keeps the 0.1 s."""
    return POLL_S * max(1.0, unsettled / POLL_ROWS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Load:
    requests: int
    in_flight: int
    """Most requests unsettled at once; 0 submits every one at once."""
    clients: int
    timeout: float


async def drive(http: httpx2.AsyncClient, args: Load) -> list[dict[str, Any]]:
    """Land `requests` changes, keeping at most `in_flight` unsettled (0: all at once), and
    return each request's final summary once every one has settled."""
    window = args.in_flight or args.requests
    deadline = time.monotonic() + args.timeout
    submitted = 0
    unsettled: dict[str, int] = {}
    settled: dict[str, dict[str, Any]] = {}
    while len(settled) < args.requests:
        room = min(window - len(unsettled), args.requests - submitted)
        if room > 0:
            for body in await submit(http, range(submitted, submitted + room), args.clients):
                unsettled[body["id"]] = body["received_at_ms"]
            submitted += room
        oldest = min(unsettled.values(), default=0)
        for row in await received_since(http, oldest):
            if row["id"] in unsettled and row["status"] in TERMINAL:
                del unsettled[row["id"]]
                settled[row["id"]] = row
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(settled)} of {args.requests} settled in {args.timeout}s")
        if min(window - len(unsettled), args.requests - submitted) <= 0:
            await asyncio.sleep(poll_pause(len(unsettled)))
    return list(settled.values())


async def run_stack(
    data_dir: Path, urls: dict[str, str], args: Load
) -> tuple[list[dict[str, Any]], dict[str, int], int, float]:
    """Push the requests through the stack; (final summaries, messages per topic, dead letters,
    CPU seconds of this process while they went through)."""
    settings = settings_for(data_dir, urls)
    runtime = BenchRuntime(settings, urls)
    parts = [SERVICES[name](runtime) for name in STACK]
    app = build_app([r for p in parts for r in p.routers], ready=lambda: True, access=Access())
    group = Group(*[c for p in parts for c in p.components])
    await group.start()
    try:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
            cpu = time.process_time()
            rows = await drive(http, args)
            cpu = time.process_time() - cpu
    finally:
        await group.stop()
        await runtime.queue.close()
    admin = QueueAdmin(runtime.queue_engine)
    topics = [t for t in admin.topics() if not t.topic.endswith(DLQ_SUFFIX)]
    # Partition sequence numbers count every message ever published, including acked ones the
    # queue has since collected (retention is 10 minutes and a run can last longer).
    messages = {t.topic: sum(p.last_seq for p in admin.partitions(t.topic)) for t in topics}
    dead = sum(t.dead_letters for t in topics)
    runtime.dispose()
    return rows, messages, dead, cpu


def outcome(
    backend: str,
    rows: list[dict[str, Any]],
    messages: dict[str, int],
    dead: int,
    cpu_s: float,
    rates: dict[int, float],
) -> Outcome:
    landed = [r for r in rows if r["status"] == "landed"]
    first = min(r["received_at_ms"] for r in rows)
    last = max(r["status_at_ms"] for r in landed) if landed else first
    return Outcome(
        backend=backend,
        requests=len(rows),
        landed=len(landed),
        wall_s=(last - first) / 1000,
        latencies_ms=[float(r["status_at_ms"] - r["received_at_ms"]) for r in landed],
        messages=messages,
        dead_letters=dead,
        queue_rates=rates,
        cpu_s=cpu_s,
    )
