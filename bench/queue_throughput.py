"""Publish-then-consume throughput of the SQL message queue, beside the database's raw commit rate
and procrastinate on the same PostgreSQL server.

Definitions (printed with the table, and in doc/benchmarks.md):

- throughput = messages / (publish wall time + time from subscribe until the last ack is
  committed). The publish phase ends before the consumer starts.
- publish modes: one message per call from one caller; one message per call from `--publishers`
  concurrent callers (the headline: services publish from many handlers at once, and calls made
  together share a transaction); `publish_many` with `--batch` messages per call.
- raw commit rate = single-row INSERT + COMMIT per iteration, in a tight loop, through the bare
  driver with the queue's durability settings (SQLite: WAL, synchronous=NORMAL, BEGIN IMMEDIATE;
  PostgreSQL: the server's settings).
- procrastinate: N no-op jobs deferred in the same mode, then one worker with its default
  concurrency runs until the queue is empty.
- every measurement (raw, ours, procrastinate) runs `--runs` times (default 3), each on a fresh
  database; the table shows the run with the median throughput and the range of all runs.
- message ids are `m0`, `m1`, ... (`--ids sequential`, like the counters and request ids services
  use) or random UUIDs (`--ids random`).

Every database is fresh (a temporary SQLite file, or a PostgreSQL database created and dropped
here). Loops are bounded by N and every wait by `--timeout`; only loopback servers are used.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import math
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from benchdb import fresh_postgres
from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue import Delivery, MessageQueue, SubscriptionConfig
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.summary import Align, markdown_table

PG_ENV = "SQ_TEST_POSTGRES_URL"
PAYLOAD_BYTES = 200
TOPIC = "bench"
QUICK_MESSAGES = 1000


def _payload() -> str:
    """A JSON document of exactly PAYLOAD_BYTES bytes."""
    skeleton = '{"pad":""}'
    text = '{"pad":"' + "x" * (PAYLOAD_BYTES - len(skeleton)) + '"}'
    assert len(text.encode()) == PAYLOAD_BYTES
    return text


PAYLOAD = _payload()


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    database: str
    system: str
    batch: int
    publishers: int
    mode: str
    partitions: str
    publish_s: float
    consume_s: float
    messages: int
    low: float = math.nan
    high: float = math.nan
    """The lowest and highest throughput of the runs this row is the median of."""

    @property
    def publish_rate(self) -> float:
        return self.messages / self.publish_s

    @property
    def consume_rate(self) -> float:
        return self.messages / self.consume_s if self.consume_s else math.nan

    @property
    def throughput(self) -> float:
        return self.messages / (self.publish_s + self.consume_s)


def progress(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- fresh databases ------------------------------------------------------------------------------


@contextlib.contextmanager
def fresh_sqlite(workdir: Path) -> Iterator[Path]:
    path = workdir / f"{uuid.uuid4().hex[:12]}.db"
    try:
        yield path
    finally:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)


def libpq_url(url: sa.URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


# --- raw commit rate ------------------------------------------------------------------------------


def raw_sqlite(path: Path, n: int) -> float:
    """Seconds for n single-row INSERT + COMMIT transactions with the queue's SQLite settings."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "busy_timeout=30000",
            "temp_store=MEMORY",
        ):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
        start = time.perf_counter()
        for _ in range(n):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO raw (payload) VALUES (?)", (PAYLOAD,))
            conn.execute("COMMIT")
        return time.perf_counter() - start
    finally:
        conn.close()


def raw_postgres(url: sa.URL, n: int) -> float:
    """Seconds for n single-row INSERT + COMMIT transactions through psycopg."""
    import psycopg

    with psycopg.connect(libpq_url(url)) as conn:
        conn.execute("CREATE TABLE raw (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        conn.commit()
        start = time.perf_counter()
        for _ in range(n):
            conn.execute("INSERT INTO raw (payload) VALUES (%s)", (PAYLOAD,))
            conn.commit()
        return time.perf_counter() - start


# --- our queue -----------------------------------------------------------------------------------


async def run_queue(
    url: str | sa.URL,
    n: int,
    partitions: int,
    batch: int,
    limit_s: float,
    publishers: int = 1,
    ids: str = "sequential",
) -> tuple[float, float]:
    """(publish seconds, seconds from subscribe until the last ack is committed).

    batch == 1 publishes one message per call, from `publishers` tasks at once (each awaits its
    call before making the next); more uses `publish_many` in chunks from one task.
    """
    engine = create_engine(url)
    try:
        migrations.upgrade(engine, migrations.queue_schema())
        store = SqlQueueStore(engine)
        queue = MessageQueue(store)
        keys = [f"p{i % partitions}" for i in range(n)]
        names = [f"m{i}" if ids == "sequential" else str(uuid.uuid4()) for i in range(n)]

        async def publisher(first: int) -> None:
            for i in range(first, n, publishers):
                await queue.publish(TOPIC, keys[i], names[i], PAYLOAD)

        start = time.perf_counter()
        if batch == 1:
            await asyncio.gather(*(publisher(first) for first in range(publishers)))
        else:
            for low in range(0, n, batch):
                await queue.publish_many(
                    [
                        queue.message(TOPIC, keys[i], names[i], PAYLOAD)
                        for i in range(low, min(n, low + batch))
                    ]
                )
        publish_s = time.perf_counter() - start

        seen: set[str] = set()
        all_seen = asyncio.Event()

        async def handler(delivery: Delivery) -> None:
            delivery.ack()
            seen.add(delivery.message_id)
            if len(seen) >= n:
                all_seen.set()

        start = time.perf_counter()
        deadline = start + limit_s
        await queue.subscribe(TOPIC, SubscriptionConfig(consumer_group="bench"), handler)
        try:
            await asyncio.wait_for(all_seen.wait(), limit_s)
            # An ack is recorded in memory and written by the worker's next transaction; the
            # queue is idle once every worker has written its outcomes and gone to sleep.
            while not queue.is_idle():
                if time.perf_counter() > deadline:
                    raise TimeoutError("acks were not written before the deadline")
                await asyncio.sleep(0.001)
            consume_s = time.perf_counter() - start
        finally:
            await queue.close()
            store.close()
        return publish_s, consume_s
    finally:
        engine.dispose()


# --- procrastinate -------------------------------------------------------------------------------


async def run_procrastinate(
    url: sa.URL, n: int, batch: int, limit_s: float, publishers: int = 1
) -> tuple[float, float]:
    """(defer seconds, worker seconds) for n no-op jobs carrying the same 200-byte payload.

    batch == 1 defers one job per call from `publishers` tasks at once, over a pool as large as
    our queue's (8 connections, up to 16).
    """
    import procrastinate

    # The worker runs in this process with the task registered, so the advice against defining
    # the app in __main__ (for separate worker processes) does not apply.
    logging.getLogger("procrastinate.blueprints").addFilter(
        lambda record: getattr(record, "action", "") != "app_defined_in___main__"
    )
    app = procrastinate.App(
        connector=procrastinate.PsycopgConnector(conninfo=libpq_url(url), min_size=8, max_size=16)
    )

    @app.task(name="noop")
    async def noop(pad: str) -> None:
        return None

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        start = time.perf_counter()
        if batch == 1:

            async def deferrer(first: int) -> None:
                for _ in range(first, n, publishers):
                    await noop.defer_async(pad=PAYLOAD)

            await asyncio.gather(*(deferrer(first) for first in range(publishers)))
        else:
            for low in range(0, n, batch):
                await noop.batch_defer_async(
                    *({"pad": PAYLOAD} for _ in range(low, min(n, low + batch)))
                )
        defer_s = time.perf_counter() - start

        start = time.perf_counter()
        await asyncio.wait_for(
            app.run_worker_async(wait=False, install_signal_handlers=False), limit_s
        )
        work_s = time.perf_counter() - start

        async with app.connector.pool.connection() as conn:  # type: ignore[attr-defined]
            cursor = await conn.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            )
            (done,) = await cursor.fetchone()
        if done != n:
            raise RuntimeError(f"procrastinate finished {done} of {n} jobs")
    return defer_s, work_s


# --- driver --------------------------------------------------------------------------------------


def mode_name(system: str, batch: int, publishers: int = 1) -> str:
    if system == "raw":
        return "INSERT+COMMIT, 1 row/tx"
    callers = "1 caller" if publishers == 1 else f"{publishers} callers"
    if system == "sq":
        return f"publish, {callers}" if batch == 1 else f"publish_many, {batch} msgs/call"
    return f"defer, {callers}" if batch == 1 else f"batch_defer, {batch} jobs/call"


Run = tuple[float, float]
"""(publish seconds, consume seconds) of one measurement."""


async def measured(
    args: argparse.Namespace, label: str, once: Callable[[], Awaitable[Run]]
) -> list[Run]:
    """`--runs` measurements of one thing, each on a fresh database, with progress."""
    runs: list[Run] = []
    for number in range(1, args.runs + 1):
        progress(f"{label} (run {number}/{args.runs}) ...")
        # The previous measurement's garbage (engines, connections, whose closing checkpoints
        # their WAL) is collected here, not in the middle of this one.
        gc.collect()
        start = time.perf_counter()
        runs.append(await once())
        progress(f"{label} (run {number}/{args.runs}): done in {time.perf_counter() - start:.1f}s")
    return runs


def _row(
    database: str,
    system: str,
    batch: int,
    partitions: str,
    n: int,
    runs: list[Run],
    publishers: int = 1,
) -> Row:
    """The run with the median throughput, with the range of all of them."""
    rates = sorted((n / (pub + con), pub, con) for pub, con in runs)
    _, publish_s, consume_s = rates[(len(rates) - 1) // 2]
    return Row(
        database=database,
        system=system,
        batch=batch,
        publishers=publishers,
        mode=mode_name(system, batch, publishers),
        partitions=partitions,
        publish_s=publish_s,
        consume_s=consume_s,
        messages=n,
        low=rates[0][0],
        high=rates[-1][0],
    )


def publish_modes(args: argparse.Namespace) -> list[tuple[int, int]]:
    """(batch, publishers): one caller, `--publishers` callers, and `publish_many`."""
    return [(1, 1), (1, args.publishers), (args.batch, 1)]


async def _sq_rows(
    database: str,
    fresh: Callable[[], contextlib.AbstractContextManager[str | sa.URL]],
    args: argparse.Namespace,
    batch: int,
    publishers: int,
) -> list[Row]:
    """Our queue in one publish mode, for each partition count."""
    n, rows = args.messages, []
    for parts in args.partitions:

        async def once(parts: int = parts) -> Run:
            with fresh() as target:
                return await run_queue(target, n, parts, batch, args.timeout, publishers, args.ids)

        label = f"{database} sq {mode_name('sq', batch, publishers)}, {parts} partition(s) x{n}"
        runs = await measured(args, label, once)
        rows.append(_row(database, "sq", batch, str(parts), n, runs, publishers))
    return rows


async def bench_sqlite(args: argparse.Namespace, workdir: Path) -> list[Row]:
    n = args.messages

    async def raw() -> Run:
        with fresh_sqlite(workdir) as path:
            return raw_sqlite(path, n), 0.0

    rows = [_row("sqlite", "raw", 1, "-", n, await measured(args, f"sqlite raw commits x{n}", raw))]

    @contextlib.contextmanager
    def fresh() -> Iterator[str]:
        with fresh_sqlite(workdir) as path:
            yield str(path)

    for batch, publishers in publish_modes(args):
        rows += await _sq_rows("sqlite", fresh, args, batch, publishers)
    return rows


async def bench_postgres(args: argparse.Namespace) -> list[Row]:
    n = args.messages

    async def raw() -> Run:
        with fresh_postgres(args.postgres_url) as url:
            return raw_postgres(url, n), 0.0

    runs = await measured(args, f"postgresql raw commits x{n}", raw)
    rows = [_row("postgresql", "raw", 1, "-", n, runs)]
    for batch, publishers in publish_modes(args):
        rows += await _sq_rows(
            "postgresql", lambda: fresh_postgres(args.postgres_url), args, batch, publishers
        )

        async def procrastinate(batch: int = batch, publishers: int = publishers) -> Run:
            with fresh_postgres(args.postgres_url) as url:
                return await run_procrastinate(url, n, batch, args.timeout, publishers)

        label = f"postgresql procrastinate {mode_name('procrastinate', batch, publishers)} x{n}"
        runs = await measured(args, label, procrastinate)
        rows.append(_row("postgresql", "procrastinate", batch, "-", n, runs, publishers))
    return rows


# --- report --------------------------------------------------------------------------------------

DEFINITIONS = """\
throughput = messages / (publish wall time + time from subscribe until the last ack is committed)
  publish and consume are sequential phases; consume uses SubscriptionConfig defaults
  (batch_size=10) with one worker task per partition, handler = delivery.ack()
publish    = one message per call; "N callers" = N tasks publishing at once, each awaiting its
             call before the next (calls made together share a transaction: group commit);
             publish_many = one task, many messages per call and transaction
raw        = single-row INSERT + COMMIT loop through the bare driver, same durability settings
             (its publish/s and throughput are the commit rate)
procr.     = procrastinate on the same server (pool of 8-16 connections): defer N no-op jobs in
             the same mode, then one worker (default concurrency 1, wait=False) until empty
runs       = each row is the run with the median throughput of --runs runs (fresh database each);
             "range of runs" is the lowest and highest throughput among them
vs raw     = throughput / raw commit rate of the same database (both medians)
vs procr.  = throughput / procrastinate's throughput with the same publish mode
result     = the worse of 1 and 50 partitions; unprefixed ratios with N callers, serial_ with one\
"""


def _ratio(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.2f}x"


def _raw(rows: list[Row], database: str) -> Row | None:
    return next((r for r in rows if r.database == database and r.system == "raw"), None)


def _procrastinate(rows: list[Row], batch: int, publishers: int) -> Row | None:
    return next(
        (
            r
            for r in rows
            if r.system == "procrastinate" and r.batch == batch and r.publishers == publishers
        ),
        None,
    )


def render(rows: list[Row], n: int) -> str:
    header = (
        "database",
        "system",
        "mode",
        "partitions",
        "publish/s",
        "consume/s",
        "throughput/s",
        "range of runs",
        "vs raw",
        "vs procr.",
    )
    table = [header]
    for row in rows:
        raw = _raw(rows, row.database)
        procr = (
            _procrastinate(rows, row.batch, row.publishers)
            if row.database == "postgresql"
            else None
        )
        vs_raw = row.throughput / raw.throughput if raw and row.system != "raw" else None
        vs_procr = row.throughput / procr.throughput if procr and row.system == "sq" else None
        table.append(
            (
                row.database,
                row.system,
                row.mode,
                row.partitions,
                f"{row.publish_rate:,.0f}",
                "-" if row.system == "raw" else f"{row.consume_rate:,.0f}",
                f"{row.throughput:,.0f}",
                f"{row.low:,.0f}-{row.high:,.0f}",
                _ratio(vs_raw),
                _ratio(vs_procr),
            )
        )
    align = [Align.LEFT] * 4 + [Align.RIGHT] * 6
    title = f"Queue throughput: {n:,} messages of {PAYLOAD_BYTES} bytes"
    lines = [title, "", markdown_table(header, table[1:], align)]
    return "\n".join(lines)


def headline(rows: list[Row], publishers: int) -> dict[str, float | None]:
    """Ratios of the worse (1 or 50 partitions) one-message-per-call figure on each database.

    The first three use `publishers` concurrent callers (how services publish); the `serial_`
    ones, one caller awaiting each publish before the next.
    """

    def worst(database: str, callers: int) -> float | None:
        ours = [
            r.throughput
            for r in rows
            if r.database == database
            and r.system == "sq"
            and r.batch == 1
            and r.publishers == callers
        ]
        return min(ours) if ours else None

    result: dict[str, float | None] = {}
    for prefix, callers in (("", publishers), ("serial_", 1)):
        for key, database in (("sqlite_vs_raw", "sqlite"), ("pg_vs_raw", "postgresql")):
            ours, raw = worst(database, callers), _raw(rows, database)
            name = key.replace("_vs", f"_{prefix}vs") if prefix else key
            result[name] = ours / raw.throughput if ours and raw else None
        ours, procr = worst("postgresql", callers), _procrastinate(rows, 1, callers)
        name = f"pg_{prefix}vs_procrastinate"
        result[name] = ours / procr.throughput if ours and procr else None
    return result


def result_line(ratios: dict[str, float | None]) -> str:
    return "RESULT " + " ".join(
        f"{key}={'n/a' if value is None else f'{value:.3f}'}" for key, value in ratios.items()
    )


def environment(args: argparse.Namespace) -> str:
    parts = [
        f"python {sys.version.split()[0]}",
        f"sqlite {sqlite3.sqlite_version}",
        f"{os.cpu_count()} cpus",
    ]
    if not args.sqlite_only:
        engine = sa.create_engine(
            sa.make_url(args.postgres_url).set(drivername="postgresql+psycopg")
        )
        try:
            with engine.connect() as conn:
                version = conn.execute(sa.text("SHOW server_version")).scalar()
                fsync = conn.execute(sa.text("SHOW fsync")).scalar()
                sync = conn.execute(sa.text("SHOW synchronous_commit")).scalar()
            parts.append(f"postgresql {version} (fsync={fsync}, synchronous_commit={sync})")
        finally:
            engine.dispose()
    return ", ".join(parts)


# --- entry point ---------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, help="messages per run (default 20000)")
    parser.add_argument(
        "--quick", action="store_true", help=f"smoke run: {QUICK_MESSAGES} messages by default"
    )
    parser.add_argument(
        "--partitions",
        default="1,50",
        type=lambda text: [int(p) for p in text.split(",")],
        help="comma-separated partition counts (default 1,50)",
    )
    parser.add_argument("--batch", type=int, default=100, help="messages per publish_many call")
    parser.add_argument(
        "--publishers",
        type=int,
        default=32,
        help="concurrent callers in the headline mode (default 32)",
    )
    parser.add_argument(
        "--runs",
        type=int,
        help="runs of every measurement; the median is reported (default 3, --quick 1)",
    )
    parser.add_argument(
        "--ids",
        choices=("sequential", "random"),
        default="sequential",
        help="message ids: m0, m1, ... or random UUIDs (default sequential)",
    )
    parser.add_argument("--sqlite-only", action="store_true", help="skip PostgreSQL")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(PG_ENV),
        help=f"server URL; a fresh database is created there (default ${PG_ENV})",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="upper bound on each wait, in seconds"
    )
    args = parser.parse_args(argv)
    if args.messages is None:
        args.messages = QUICK_MESSAGES if args.quick else 20_000
    if args.runs is None:
        args.runs = 1 if args.quick else 3
    if (
        args.messages < 1
        or args.runs < 1
        or args.batch < 2
        or min(args.partitions) < 1
        or args.publishers < 2
    ):
        parser.error(
            "--messages, --runs and --partitions must be positive, "
            "--batch and --publishers at least 2"
        )
    if not args.sqlite_only and not args.postgres_url:
        parser.error(f"set {PG_ENV} or --postgres-url, or pass --sqlite-only")
    return args


async def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment(args)
    progress(f"{args.messages} messages, {args.runs} run(s) each, {args.ids} ids; {env}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="sqbench-") as workdir:
        rows += await bench_sqlite(args, Path(workdir))
    if not args.sqlite_only:
        rows += await bench_postgres(args)
    print(render(rows, args.messages))
    print()
    print(f"{env}; {args.runs} run(s) of each measurement; {args.ids} message ids")
    print(DEFINITIONS)
    print()
    print(result_line(headline(rows, args.publishers)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
