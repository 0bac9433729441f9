"""Stovepipe's ingest → fact latency with instant builds, on SQLite and on PostgreSQL.

One queue on the fake SourceControl and the fake build runner (every build passes at once). For
each of N heads: push it, call ingest, and stop the clock when its validation fact is stored. The
message queue and Stovepipe's tables share one fresh database per backend; the pipeline runs in
this process with the stage defaults of `sq serve`. Prints p50/p95/max per backend and, last,
`RESULT sqlite_p50_ms=… pg_p50_ms=…` (pg is `nan` without a PostgreSQL URL).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

import structlog

from benchargs import parse_with_quick
from benchdb import fresh_postgres_url
from sq.platform import migrations
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.clock import SystemClock
from sq.platform.counter import Counter
from sq.platform.db import create_engine
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.messagequeue.sql.watch import watcher_for
from sq.platform.pipeline import construct
from sq.platform.summary import percentile
from sq.stovepipe.controller.ingest import IngestController
from sq.stovepipe.deps import Deps, QueueSetup
from sq.stovepipe.extension.sourcecontrol.fake import FakeSourceControlFactory
from sq.stovepipe.stages import TOPIC_NAMES, stages
from sq.stovepipe.storage import NotFoundError, SqlStorage, schema

Q = "bench/main"


async def measure(url: str, heads: int, timeout_s: float) -> list[float]:
    engine = create_engine(url)
    migrations.upgrade(engine, migrations.queue_schema(), schema(), migrations.counter_schema())
    clock = SystemClock()
    store = SqlQueueStore(engine)
    queue = MessageQueue(store, clock=clock, watcher=watcher_for(engine))
    sc = FakeSourceControlFactory(clock)
    fake = sc.add(Q)
    storage = SqlStorage(engine)
    deps = Deps(
        storage=storage,
        source_control=sc,
        runner=FakeBuildRunner(),
        counter=Counter(engine),
        queues={Q: QueueSetup(name=Q)},
        clock=clock,
    )
    ingest = IngestController(deps, queue)
    pipeline = construct(queue, deps, stages(), topic_names=TOPIC_NAMES)
    await pipeline.start()
    latencies = []
    try:
        for n in range(heads):
            uri = f"fake://bench/{n}"
            fake.push(uri)
            started = time.perf_counter()
            await ingest.ingest(Q)
            deadline = started + timeout_s
            while True:
                with contextlib.suppress(NotFoundError):
                    await asyncio.to_thread(storage.get_fact, Q, uri)
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"no fact for {uri} after {timeout_s}s")
                await asyncio.sleep(0.001)
            latencies.append((time.perf_counter() - started) * 1000)
    finally:
        await queue.close()
        store.close()
        engine.dispose()
    return latencies


def report(label: str, values: list[float]) -> float:
    p50, p95 = percentile(values, 0.50), percentile(values, 0.95)
    worst = max(values)
    print(
        f"{label:<10} n={len(values):<4} p50={p50:8.1f} ms  p95={p95:8.1f} ms  max={worst:8.1f} ms"
    )
    return p50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heads", type=int, default=50)
    parser.add_argument("--timeout", type=float, default=30.0, help="Seconds to wait per head")
    parser.add_argument("--postgres-url", default=os.environ.get("SQ_TEST_POSTGRES_URL"))
    parser.add_argument("--sqlite-only", action="store_true")
    args = parse_with_quick(parser, {"heads": 10})
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    print(f"ingest -> fact recorded, instant builds, {args.heads} heads, one queue")
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = asyncio.run(
            measure(f"sqlite:///{Path(tmp) / 'bench.db'}", args.heads, args.timeout)
        )
    sqlite_p50 = report("sqlite", sqlite)
    pg_p50 = float("nan")
    if args.postgres_url and not args.sqlite_only:
        with fresh_postgres_url(args.postgres_url) as url:
            pg_p50 = report("postgresql", asyncio.run(measure(url, args.heads, args.timeout)))
    else:
        print("postgresql skipped (no --postgres-url / SQ_TEST_POSTGRES_URL)", file=sys.stderr)
    print(f"RESULT sqlite_p50_ms={sqlite_p50:.1f} pg_p50_ms={pg_p50:.1f}")


if __name__ == "__main__":
    main()
