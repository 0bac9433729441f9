"""Pipeline overhead: requests landed per minute through the whole SubmitQueue stack with instant
builds, beside the ceiling the message queue's own throughput sets, on SQLite and on PostgreSQL.

The stack is what `sq serve gateway orchestrator runway` wires for the default `demo` queue (fake
change provider, fake build runner that passes at once, noop merger, the `all` conflict
analyzer, build budget 4), run in this process; lands go through the gateway's HTTP API
in-process (ASGI, no socket). N requests are submitted by `--clients` concurrent clients as fast
as the gateway accepts them, and the clock runs until the last one has landed.

- landed/min = landed / (last `landed` status time - first receipt time).
- latency = a request's `landed` status time - its receipt time (the gateway's and the
  orchestrator's clocks are this process's clock), p50 and p95.
- messages per landed request = every message published in the run (all topics, dead letters
  apart; the sum of the partitions' last sequence numbers in the queue's tables) / landed.
- queue rate = `queue_throughput.run_queue` on a fresh database of the same backend: publish
  one message per transaction, then consume with the defaults (the better of 1 and 50
  partitions).
- ceiling = queue rate x 60 / messages per landed request: the landed/min the queue alone would
  allow if the services cost nothing. vs ceiling = landed/min / ceiling.

Each backend gets fresh databases: SQLite files in a temporary data directory (one per service,
as `sq serve` lays them out), or on PostgreSQL one database per service (queue, gateway,
orchestrator), created and dropped here. PostgreSQL runs when SQ_TEST_POSTGRES_URL (or
--postgres-url) names a server. Last line:
`RESULT sqlite_landed_per_min=… pg_landed_per_min=… sqlite_vs_ceiling=… pg_vs_ceiling=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
import queue_throughput
from benchdb import fresh_postgres_url
from sq.platform import migrations
from sq.platform.lifecycle import Group
from sq.platform.messagequeue.model import DLQ_SUFFIX
from sq.platform.messagequeue.sql.admin import QueueAdmin
from sq.service import services  # noqa: F401  (registers every service builder)
from sq.service.access import Access
from sq.service.http import build_app
from sq.service.runtime import SERVICES, Runtime
from sq.service.settings import Settings

PG_ENV = "SQ_TEST_POSTGRES_URL"
QUEUE = "demo"
STACK = ("gateway", "orchestrator", "runway")
TERMINAL = {"landed", "error", "cancelled"}
QUICK_REQUESTS = 30
QUICK_QUEUE_MESSAGES = 300


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


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


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
    """Every request received at or after `after_ms`, through the list API's pages."""
    rows: list[dict[str, Any]] = []
    params: dict[str, Any] = {"page_size": 200, "received_at_or_after_ms": after_ms}
    while True:
        page = (await http.get(f"/api/v1/queues/{QUEUE}/requests", params=params)).json()
        rows += page["requests"]
        if not page.get("next_page_token"):
            return rows
        params = {
            "page_size": 200,
            "page_token": page["next_page_token"],
            "received_at_or_after_ms": page["received_at_or_after_ms"],
            "received_before_ms": page["received_before_ms"],
        }


async def drive(http: httpx2.AsyncClient, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Land `--requests` changes, keeping at most `--in-flight` unsettled (0: all at once), and
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
            await asyncio.sleep(0.1)
    return list(settled.values())


async def run_stack(
    data_dir: Path, urls: dict[str, str], args: argparse.Namespace
) -> tuple[list[dict[str, Any]], dict[str, int], int]:
    """Push the requests through the stack; (final summaries, messages per topic, dead letters)."""
    settings = settings_for(data_dir, urls)
    runtime = BenchRuntime(settings, urls)
    parts = [SERVICES[name](runtime) for name in STACK]
    app = build_app([r for p in parts for r in p.routers], ready=lambda: True, access=Access())
    group = Group(*[c for p in parts for c in p.components])
    await group.start()
    try:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
            rows = await drive(http, args)
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
    return rows, messages, dead


def queue_rates(
    fresh: Callable[[], ContextManager[Any]], args: argparse.Namespace
) -> dict[int, float]:
    """Messages per second of `queue_throughput.run_queue`, one fresh database per measurement."""
    rates = {}
    for partitions in (1, 50):
        with fresh() as url:
            publish_s, consume_s = asyncio.run(
                queue_throughput.run_queue(url, args.queue_messages, partitions, 1, args.timeout)
            )
        rates[partitions] = args.queue_messages / (publish_s + consume_s)
    return rates


def outcome(
    backend: str,
    rows: list[dict[str, Any]],
    messages: dict[str, int],
    dead: int,
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
    )


def run_sqlite(args: argparse.Namespace) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="sqbench-") as tmp:
        progress(f"sqlite: queue rate, {args.queue_messages} messages, 1 and 50 partitions")
        rates = queue_rates(lambda: sqlite_file(Path(tmp)), args)
        progress(f"sqlite: {args.requests} requests through the stack")
        rows, messages, dead = asyncio.run(run_stack(Path(tmp) / "data", {}, args))
    return outcome("sqlite", rows, messages, dead, rates)


@contextlib.contextmanager
def sqlite_file(workdir: Path) -> Iterator[str]:
    with queue_throughput.fresh_sqlite(workdir) as path:
        yield str(path)


@contextlib.contextmanager
def postgres_databases(server: str, names: tuple[str, ...]) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(fresh_postgres_url(server, "sqpipe")) for name in names}


def run_postgres(args: argparse.Namespace) -> Outcome:
    progress(f"postgresql: queue rate, {args.queue_messages} messages, 1 and 50 partitions")
    rates = queue_rates(lambda: fresh_postgres_url(args.postgres_url, "sqpipe"), args)
    progress(f"postgresql: {args.requests} requests through the stack")
    with (
        tempfile.TemporaryDirectory(prefix="sqbench-") as tmp,
        postgres_databases(args.postgres_url, ("queue", "gateway", "orchestrator")) as urls,
    ):
        rows, messages, dead = asyncio.run(run_stack(Path(tmp), urls, args))
    return outcome("postgresql", rows, messages, dead, rates)


def report(outcomes: list[Outcome]) -> str:
    header = (
        "backend",
        "landed",
        "landed/min",
        "p50 ms",
        "p95 ms",
        "msgs/landed",
        "queue msg/s",
        "ceiling/min",
        "vs ceiling",
    )
    table = [header]
    for o in outcomes:
        p50 = percentile(o.latencies_ms, 50) if o.latencies_ms else math.nan
        p95 = percentile(o.latencies_ms, 95) if o.latencies_ms else math.nan
        table.append(
            (
                o.backend,
                f"{o.landed}/{o.requests}",
                f"{o.landed_per_min:,.0f}",
                f"{p50:,.0f}",
                f"{p95:,.0f}",
                f"{o.messages_per_landed:.1f}",
                f"{o.queue_rate:,.0f}",
                f"{o.ceiling_per_min:,.0f}",
                f"{o.vs_ceiling:.3f}",
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [
        "| " + " | ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) + " |"
        for row in table
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    for o in outcomes:
        rates = ", ".join(f"{p} partition(s) {r:,.0f}/s" for p, r in sorted(o.queue_rates.items()))
        topics = ", ".join(f"{t} {n}" for t, n in sorted(o.messages.items(), key=lambda x: -x[1]))
        lines += [
            "",
            f"{o.backend}: wall {o.wall_s:.1f}s; queue rate {rates}; dead letters {o.dead_letters}",
            f"{o.backend}: messages by topic: {topics}",
        ]
    return "\n".join(lines)


def result_line(outcomes: list[Outcome]) -> str:
    by = {o.backend: o for o in outcomes}

    def figure(backend: str, value: str, fmt: str) -> str:
        o = by.get(backend)
        return "n/a" if o is None else format(getattr(o, value), fmt)

    return (
        f"RESULT sqlite_landed_per_min={figure('sqlite', 'landed_per_min', '.1f')}"
        f" pg_landed_per_min={figure('postgresql', 'landed_per_min', '.1f')}"
        f" sqlite_vs_ceiling={figure('sqlite', 'vs_ceiling', '.3f')}"
        f" pg_vs_ceiling={figure('postgresql', 'vs_ceiling', '.3f')}"
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, help="land requests per backend (default 200)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_REQUESTS} requests and {QUICK_QUEUE_MESSAGES} queue messages",
    )
    parser.add_argument("--clients", type=int, default=4, help="concurrent land clients")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=10,
        help="most requests unsettled at once; 0 lands all of them at once (default 10)",
    )
    parser.add_argument(
        "--queue-messages", type=int, help="messages for the queue-rate measurement (default 2000)"
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(PG_ENV),
        help=f"server URL; fresh databases are created there (default ${PG_ENV})",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="upper bound on each wait (s)")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = QUICK_REQUESTS if args.quick else 200
    if args.queue_messages is None:
        args.queue_messages = QUICK_QUEUE_MESSAGES if args.quick else 2000
    if min(args.requests, args.clients, args.queue_messages) < 1 or args.in_flight < 0:
        parser.error("--requests, --clients and --queue-messages must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    outcomes = [run_sqlite(args)]
    if args.sqlite_only or not args.postgres_url:
        why = "--sqlite-only" if args.sqlite_only else f"{PG_ENV} and --postgres-url are unset"
        print(f"postgresql skipped: {why}", flush=True)
    else:
        outcomes.append(run_postgres(args))
    print(
        f"Pipeline overhead: {args.requests} requests, at most {args.in_flight or 'all'} in "
        f"flight, {args.clients} clients, instant fake "
        f"builds, queue {QUEUE!r} (fake provider, noop merger, `all` analyzer, budget 4)"
    )
    print()
    print(report(outcomes))
    print()
    print(result_line(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
