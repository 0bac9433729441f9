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

Each backend runs twice: the shallow run keeps at most `--in-flight` requests unsettled; the deep
run submits `--deep` requests at once (hundreds of heads in flight). deep_vs_shallow = the deep
run's landed/min / the shallow run's. Each run gets fresh databases: SQLite files in a temporary
data directory (one per service, as `sq serve` lays them out), or on PostgreSQL one database per
service (queue, gateway, orchestrator), created and dropped here. PostgreSQL runs when
SQ_TEST_POSTGRES_URL (or --postgres-url) names a server. Last line: `RESULT sqlite_landed_per_min=…
pg_landed_per_min=… sqlite_vs_ceiling=… pg_vs_ceiling=… sqlite_deep_landed_per_min=…
pg_deep_landed_per_min=… sqlite_deep_vs_shallow=… pg_deep_vs_shallow=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path
from typing import Any

import structlog

from sq.platform.summary import Align, markdown_table, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent))
import queue_throughput
from benchdb import fresh_postgres_url
from pipeline_stack import QUEUE, Load, Outcome, outcome, progress, run_stack

PG_ENV = "SQ_TEST_POSTGRES_URL"
QUICK_REQUESTS = 30
QUICK_QUEUE_MESSAGES = 300
DEEP_REQUESTS = 300


def loads(args: argparse.Namespace) -> dict[str, Load]:
    shallow = Load(
        requests=args.requests, in_flight=args.in_flight, clients=args.clients, timeout=args.timeout
    )
    if not args.deep:
        return {"": shallow}
    deep = Load(requests=args.deep, in_flight=0, clients=args.clients, timeout=args.timeout)
    return {"": shallow, " deep": deep}


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


def run_sqlite(args: argparse.Namespace) -> list[Outcome]:
    outcomes = []
    with tempfile.TemporaryDirectory(prefix="sqbench-") as tmp:
        progress(f"sqlite: queue rate, {args.queue_messages} messages, 1 and 50 partitions")
        rates = queue_rates(lambda: sqlite_file(Path(tmp)), args)
        for name, load in loads(args).items():
            progress(f"sqlite{name}: {load.requests} requests through the stack")
            data = Path(tmp) / f"data{name.strip()}"
            rows, messages, dead = asyncio.run(run_stack(data, {}, load))
            outcomes.append(outcome(f"sqlite{name}", rows, messages, dead, rates))
    return outcomes


@contextlib.contextmanager
def sqlite_file(workdir: Path) -> Iterator[str]:
    with queue_throughput.fresh_sqlite(workdir) as path:
        yield str(path)


@contextlib.contextmanager
def postgres_databases(
    server: str, prefix: str, names: tuple[str, ...]
) -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        yield {name: stack.enter_context(fresh_postgres_url(server, prefix)) for name in names}


def run_postgres(args: argparse.Namespace) -> list[Outcome]:
    progress(f"postgresql: queue rate, {args.queue_messages} messages, 1 and 50 partitions")
    rates = queue_rates(lambda: fresh_postgres_url(args.postgres_url, args.database_prefix), args)
    outcomes = []
    for name, load in loads(args).items():
        progress(f"postgresql{name}: {load.requests} requests through the stack")
        with (
            tempfile.TemporaryDirectory(prefix="sqbench-") as tmp,
            postgres_databases(
                args.postgres_url, args.database_prefix, ("queue", "gateway", "orchestrator")
            ) as urls,
        ):
            rows, messages, dead = asyncio.run(run_stack(Path(tmp), urls, load))
        outcomes.append(outcome(f"postgresql{name}", rows, messages, dead, rates))
    return outcomes


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
        p50, p95 = percentile(o.latencies_ms, 0.50), percentile(o.latencies_ms, 0.95)
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
    lines = markdown_table(header, table[1:], [Align.RIGHT] * len(header)).splitlines()
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

    def deep_vs_shallow(backend: str) -> str:
        deep, shallow = by.get(f"{backend} deep"), by.get(backend)
        if deep is None or shallow is None:
            return "n/a"
        return f"{deep.landed_per_min / shallow.landed_per_min:.2f}"

    return (
        f"RESULT sqlite_landed_per_min={figure('sqlite', 'landed_per_min', '.1f')}"
        f" pg_landed_per_min={figure('postgresql', 'landed_per_min', '.1f')}"
        f" sqlite_vs_ceiling={figure('sqlite', 'vs_ceiling', '.3f')}"
        f" pg_vs_ceiling={figure('postgresql', 'vs_ceiling', '.3f')}"
        f" sqlite_deep_landed_per_min={figure('sqlite deep', 'landed_per_min', '.1f')}"
        f" pg_deep_landed_per_min={figure('postgresql deep', 'landed_per_min', '.1f')}"
        f" sqlite_deep_vs_shallow={deep_vs_shallow('sqlite')}"
        f" pg_deep_vs_shallow={deep_vs_shallow('postgresql')}"
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
        "--deep",
        type=int,
        help=f"requests of the deep run, all submitted at once (default {DEEP_REQUESTS}; 0 skips)",
    )
    parser.add_argument(
        "--queue-messages", type=int, help="messages for the queue-rate measurement (default 2000)"
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument("--postgres-only", action="store_true", help="skip SQLite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(PG_ENV),
        help=f"server URL; fresh databases are created there (default ${PG_ENV})",
    )
    parser.add_argument(
        "--database-prefix",
        default="sqpipe",
        help="the PostgreSQL databases are named PREFIX_<random> (default sqpipe)",
    )
    parser.add_argument("--timeout", type=float, default=900.0, help="upper bound on each wait (s)")
    args = parser.parse_args(argv)
    if args.requests is None:
        args.requests = QUICK_REQUESTS if args.quick else 200
    if args.deep is None:
        args.deep = args.requests if args.quick else DEEP_REQUESTS
    if args.queue_messages is None:
        args.queue_messages = QUICK_QUEUE_MESSAGES if args.quick else 2000
    if (
        min(args.requests, args.clients, args.queue_messages) < 1
        or min(args.in_flight, args.deep) < 0
    ):
        parser.error("--requests, --clients and --queue-messages must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    outcomes = [] if args.postgres_only else run_sqlite(args)
    if args.sqlite_only or not args.postgres_url:
        why = "--sqlite-only" if args.sqlite_only else f"{PG_ENV} and --postgres-url are unset"
        print(f"postgresql skipped: {why}", flush=True)
    else:
        outcomes += run_postgres(args)
    print(
        f"Pipeline overhead: {args.requests} requests, at most {args.in_flight or 'all'} in "
        f"flight; deep: {args.deep or 'skipped'}, all at once; {args.clients} clients, "
        f"instant fake builds, queue {QUEUE!r} (fake provider, noop merger, `all` analyzer, "
        "budget 4)"
    )
    print()
    print(report(outcomes))
    print()
    print(result_line(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
