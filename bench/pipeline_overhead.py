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
- CPU ms per landed request = CPU time of this process (every thread: the services, their
  storage calls, the client) from the first land to the last settled, / landed. The database
  server's own CPU is not in it. Unlike vs ceiling, whose denominator is the server's commit
  rate, it is the stack's own cost: a loaded box or a slow disk moves it much less.

Each backend runs `--pairs` pairs: a shallow run that keeps at most `--in-flight` requests
unsettled, then a deep run that submits `--deep` requests at once (hundreds of heads in flight),
alternating (shallow, deep, shallow, deep, ...), the queue rate measured again before each pair.
Every run gets fresh databases: SQLite files in a temporary data directory (one per service, as
`sq serve` lays them out), or on PostgreSQL one database per service (queue, gateway,
orchestrator), created and dropped here. PostgreSQL runs when SQ_TEST_POSTGRES_URL (or
--postgres-url) names a server. deep_vs_shallow = a pair's deep landed/min / its shallow one.

Why pairs: single runs of one tree swing by 70 % on a shared box, because its load moves during a
run. A pair's two runs follow each other within a couple of minutes, so their ratio sees much the
same load; the RESULT line gives the median over the pairs of each per-pair figure (vs ceiling
with the pair's own queue rate, deep_vs_shallow within the pair): with 3 pairs or more, one pair
caught by a load spike moves it by one rank at most. The default is 2 pairs (the mean of two) of
200 shallow and 300 deep requests: one pair on both backends took about 5 minutes on a quiet box
in the seventh session, so the default stays near 10 minutes (doc/benchmarks.md, "Eighth
session"); ask for `--pairs 3` or more when a single slow pair must not count. `--pairs 1` is the
single run of earlier sessions. Last line: `RESULT sqlite_landed_per_min=… pg_landed_per_min=…
sqlite_vs_ceiling=… pg_vs_ceiling=… sqlite_deep_landed_per_min=… pg_deep_landed_per_min=…
sqlite_deep_vs_shallow=… pg_deep_vs_shallow=… sqlite_cpu_ms_per_landed=… pg_cpu_ms_per_landed=…
sqlite_deep_cpu_ms_per_landed=… pg_deep_cpu_ms_per_landed=… pairs=N`, each figure the median over
the pairs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass
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
PAIRS = 2


@dataclass(frozen=True, slots=True)
class Pair:
    """One shallow run and the deep run right after it, with the queue rate measured just before
    both: a pair's ratios are taken within a few minutes, under much the same load."""

    number: int
    shallow: Outcome
    deep: Outcome | None

    @property
    def deep_vs_shallow(self) -> float:
        if self.deep is None:
            return math.nan
        return self.deep.landed_per_min / self.shallow.landed_per_min


def loads(args: argparse.Namespace) -> tuple[Load, Load | None]:
    """The shallow load and the deep one (None when `--deep 0` skips it)."""
    shallow = Load(
        requests=args.requests, in_flight=args.in_flight, clients=args.clients, timeout=args.timeout
    )
    if not args.deep:
        return shallow, None
    return shallow, Load(
        requests=args.deep, in_flight=0, clients=args.clients, timeout=args.timeout
    )


Stack = Callable[[Load], tuple[list[dict[str, Any]], dict[str, int], int]]
"""Runs one load through the stack on fresh databases: (summaries, messages per topic, dead)."""


def run_pairs(
    backend: str, args: argparse.Namespace, fresh: Callable[[], ContextManager[Any]], stack: Stack
) -> list[Pair]:
    """`--pairs` shallow/deep pairs, alternating, so that a load that moves during the whole run
    weighs on both sides of each pair rather than on one backend's or one depth's runs."""
    shallow_load, deep_load = loads(args)
    pairs = []
    for number in range(1, args.pairs + 1):
        tag = f"{backend} pair {number}/{args.pairs}"
        progress(f"{tag}: queue rate, {args.queue_messages} messages, 1 and 50 partitions")
        rates = queue_rates(fresh, args)
        runs: dict[str, Outcome] = {}
        for name, load in (("", shallow_load), (" deep", deep_load)):
            if load is not None:
                progress(f"{tag}{name}: {load.requests} requests through the stack")
                runs[name] = outcome(f"{backend}{name}", *stack(load), rates)
        pairs.append(Pair(number, runs[""], runs.get(" deep")))
    return pairs


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


def run_sqlite(args: argparse.Namespace) -> list[Pair]:
    with tempfile.TemporaryDirectory(prefix="sqbench-") as tmp:
        runs = iter(range(1_000_000))

        def stack(load: Load) -> tuple[list[dict[str, Any]], dict[str, int], int, float]:
            return asyncio.run(run_stack(Path(tmp) / f"data{next(runs)}", {}, load))

        return run_pairs("sqlite", args, lambda: sqlite_file(Path(tmp)), stack)


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


def run_postgres(args: argparse.Namespace) -> list[Pair]:
    def stack(load: Load) -> tuple[list[dict[str, Any]], dict[str, int], int, float]:
        with (
            tempfile.TemporaryDirectory(prefix="sqbench-") as tmp,
            postgres_databases(
                args.postgres_url, args.database_prefix, ("queue", "gateway", "orchestrator")
            ) as urls,
        ):
            return asyncio.run(run_stack(Path(tmp), urls, load))

    fresh = lambda: fresh_postgres_url(args.postgres_url, args.database_prefix)  # noqa: E731
    return run_pairs("postgresql", args, fresh, stack)


def report(pairs: list[Pair]) -> str:
    header = (
        "backend",
        "pair",
        "landed",
        "landed/min",
        "p50 ms",
        "p95 ms",
        "msgs/landed",
        "queue msg/s",
        "ceiling/min",
        "vs ceiling",
        "CPU ms/landed",
        "deep/shallow",
    )
    table = []
    for pair in pairs:
        for o in (pair.shallow, pair.deep):
            if o is None:
                continue
            p50, p95 = percentile(o.latencies_ms, 0.50), percentile(o.latencies_ms, 0.95)
            ratio = f"{pair.deep_vs_shallow:.2f}" if o is pair.deep else ""
            table.append(
                (
                    o.backend,
                    str(pair.number),
                    f"{o.landed}/{o.requests}",
                    f"{o.landed_per_min:,.0f}",
                    f"{p50:,.0f}",
                    f"{p95:,.0f}",
                    f"{o.messages_per_landed:.1f}",
                    f"{o.queue_rate:,.0f}",
                    f"{o.ceiling_per_min:,.0f}",
                    f"{o.vs_ceiling:.3f}",
                    f"{o.cpu_ms_per_landed:,.1f}",
                    ratio,
                )
            )
    lines = markdown_table(header, table, [Align.RIGHT] * len(header)).splitlines()
    for pair in pairs:
        for o in (pair.shallow, pair.deep):
            if o is None:
                continue
            rates = ", ".join(
                f"{p} partition(s) {r:,.0f}/s" for p, r in sorted(o.queue_rates.items())
            )
            topics = ", ".join(
                f"{t} {n}" for t, n in sorted(o.messages.items(), key=lambda x: -x[1])
            )
            name = f"{o.backend} #{pair.number}"
            lines += [
                "",
                f"{name}: wall {o.wall_s:.1f}s; queue rate {rates}; dead letters {o.dead_letters}",
                f"{name}: messages by topic: {topics}",
            ]
    return "\n".join(lines)


def medians(pairs: list[Pair]) -> dict[str, float]:
    """The median over the pairs of each figure, the ratios taken within each pair first: the
    median of per-pair ratios, not the ratio of medians, so that a pair run under a load spike
    moves the figure by one rank at most."""
    if not pairs:
        return {}
    deep = [p.deep for p in pairs if p.deep is not None]
    figures = {
        "landed_per_min": statistics.median(p.shallow.landed_per_min for p in pairs),
        "vs_ceiling": statistics.median(p.shallow.vs_ceiling for p in pairs),
        "cpu_ms_per_landed": statistics.median(p.shallow.cpu_ms_per_landed for p in pairs),
    }
    if len(deep) == len(pairs):
        figures["deep_landed_per_min"] = statistics.median(o.landed_per_min for o in deep)
        figures["deep_vs_shallow"] = statistics.median(p.deep_vs_shallow for p in pairs)
        figures["deep_cpu_ms_per_landed"] = statistics.median(o.cpu_ms_per_landed for o in deep)
    return figures


def result_line(by_backend: dict[str, list[Pair]], pairs: int) -> str:
    short = {"sqlite": "sqlite", "postgresql": "pg"}
    found = {short[b]: medians(p) for b, p in by_backend.items()}
    fields = (
        ("landed_per_min", ".1f"),
        ("vs_ceiling", ".3f"),
        ("deep_landed_per_min", ".1f"),
        ("deep_vs_shallow", ".2f"),
        ("cpu_ms_per_landed", ".1f"),
        ("deep_cpu_ms_per_landed", ".1f"),
    )
    parts = ["RESULT"]
    for name, fmt in fields:
        for backend in ("sqlite", "pg"):
            value = found.get(backend, {}).get(name)
            parts.append(f"{backend}_{name}={'n/a' if value is None else format(value, fmt)}")
    parts.append(f"pairs={pairs}")
    return " ".join(parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, help="land requests per backend (default 200)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_REQUESTS} requests and {QUICK_QUEUE_MESSAGES} queue messages",
    )
    parser.add_argument(
        "--pairs",
        type=int,
        help=f"shallow/deep pairs per backend, run alternately (default {PAIRS}; --quick: 1)",
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
    if args.pairs is None:
        args.pairs = 1 if args.quick else PAIRS
    if args.queue_messages is None:
        args.queue_messages = QUICK_QUEUE_MESSAGES if args.quick else 2000
    if (
        min(args.requests, args.clients, args.queue_messages, args.pairs) < 1
        or min(args.in_flight, args.deep) < 0
    ):
        parser.error("--requests, --clients, --queue-messages and --pairs must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    by_backend = {} if args.postgres_only else {"sqlite": run_sqlite(args)}
    if args.sqlite_only or not args.postgres_url:
        why = "--sqlite-only" if args.sqlite_only else f"{PG_ENV} and --postgres-url are unset"
        print(f"postgresql skipped: {why}", flush=True)
    else:
        by_backend["postgresql"] = run_postgres(args)
    print(
        f"Pipeline overhead: {args.pairs} pair(s) per backend of a shallow run ({args.requests} "
        f"requests, at most {args.in_flight or 'all'} in flight) and a deep one "
        f"({args.deep or 'skipped'}, all at once); {args.clients} clients, instant fake builds, "
        f"queue {QUEUE!r} (fake provider, noop merger, `all` analyzer, budget 4)"
    )
    print()
    print(report([p for pairs in by_backend.values() for p in pairs]))
    print()
    print(result_line(by_backend, args.pairs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
