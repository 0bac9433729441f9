"""What one discovery tick costs when a topic holds many finished partitions.

Services partition some topics by a key used once (the build topic by batch id), so a topic
gathers partitions nobody will read again. Every subscriber runs discovery every second (and on
each publish to a partition it has no worker for): the partitions with work for its group, and the
leases others hold. This measures one tick over N finished partitions (nothing stored, every group
past them, every lease released), side by side in one run:

- before settling: the partitions as they are after an upgrade (`settled_seq` = 0), with every
  lease row listed — what discovery read before partitions were settled;
- after settling: once collection (`gc_topic`) has settled them, with only held leases listed.

One topic, one group, a fresh SQLite file (and a fresh PostgreSQL database when
SQ_TEST_POSTGRES_URL is set, vacuumed after settling as autovacuum would; not analyzed after the
load, as a young table is not). Each figure is the
median of `--repeat` ticks.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from benchargs import parse_with_quick
from benchdb import fresh_postgres
from queue_throughput import fresh_sqlite
from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue.sql.store import PARTITIONS_PER_COLLECTION, SqlQueueStore

TOPIC, GROUP = "builds", "g"


def fill(engine: sa.Engine, n: int) -> None:
    """n finished partitions: three messages each, all acked by the group and collected."""
    keys = [{"k": f"batch-{i:07d}"} for i in range(n)]
    with engine.begin() as conn:
        for sql in (
            "INSERT INTO mq_partitions (topic, partition_key, last_seq) VALUES ('builds', :k, 3)",
            "INSERT INTO mq_offsets (consumer_group, topic, partition_key, acked_seq) "
            "VALUES ('g', 'builds', :k, 3)",
            "INSERT INTO mq_leases (consumer_group, topic, partition_key, leased_by, epoch) "
            "VALUES ('g', 'builds', :k, '', 1)",
        ):
            conn.execute(sa.text(sql), keys)


def autovacuum(engine: sa.Engine, command: str) -> None:
    """What PostgreSQL's autovacuum does within a minute of a change this large."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f"{command} mq_partitions, mq_offsets, mq_leases"))


def median_ms(tick: Callable[[], object], repeat: int) -> float:
    tick()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        tick()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure(url: str | sa.URL | Path, n: int, repeat: int) -> tuple[float, float, int]:
    """(ms per tick before settling, ms per tick after, collections it took to settle)."""
    engine = create_engine(str(url) if isinstance(url, Path) else url)
    store = SqlQueueStore(engine)
    try:
        migrations.upgrade(engine, migrations.queue_schema())
        fill(engine, n)
        before = median_ms(
            lambda: (store.discover(GROUP, TOPIC), store.leases(GROUP, TOPIC)), repeat
        )
        collections = 0
        for _ in range(n // PARTITIONS_PER_COLLECTION + 2):
            store.gc_topic(TOPIC, created_before_ms=0)
            collections += 1
            if not store.discover("new-group", TOPIC):
                break
        else:
            raise RuntimeError("collection did not settle every finished partition")
        # Settling updates every row: the old versions stay in the partial index until vacuumed
        # (43 ms per tick for 100,000 before, 2 ms after, on PostgreSQL here).
        autovacuum(engine, "VACUUM ANALYZE")
        after = median_ms(
            lambda: (store.discover(GROUP, TOPIC), store.leases(GROUP, TOPIC, held=True)), repeat
        )
        return before, after, collections
    finally:
        store.close()
        engine.dispose()


Fresh = Callable[[], contextlib.AbstractContextManager[str | sa.URL | Path]]


def databases(workdir: Path) -> list[tuple[str, Fresh]]:
    """A fresh SQLite file each time, and a fresh PostgreSQL database when a server is named."""
    found: list[tuple[str, Fresh]] = [("sqlite", lambda: fresh_sqlite(workdir))]
    server = os.environ.get("SQ_TEST_POSTGRES_URL")
    if server:
        found.append(("postgresql", lambda: fresh_postgres(server, "sqdiscovery")))
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="finished partitions")
    parser.add_argument("--repeat", type=int, default=9, help="ticks measured per figure")
    args = parse_with_quick(parser, {"sizes": "1000,10000", "repeat": 3}, argv)
    try:
        sizes = sorted(int(s) for s in args.sizes.split(","))
    except ValueError:
        print(f"--sizes must be comma-separated integers, not {args.sizes!r}", file=sys.stderr)
        return 2
    if not sizes or min(sizes) < 1 or args.repeat < 1:
        print("--sizes must be positive and --repeat at least 1", file=sys.stderr)
        return 2

    print("Discovery tick over finished partitions (median of ticks, milliseconds)\n")
    print("| database | finished partitions | before settling | after settling | collections |")
    print("|---|--:|--:|--:|--:|")
    result: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, fresh in databases(Path(tmp)):
            for n in sizes:
                with fresh() as url:
                    before, after, collections = measure(url, n, args.repeat)
                print(f"| {name} | {n:,} | {before:.2f} | {after:.2f} | {collections} |")
                result[f"{name}_before_ms"] = f"{before:.2f}"
                result[f"{name}_after_ms"] = f"{after:.2f}"
    largest = f"{max(sizes)}"
    print(
        f"\nRESULT partitions={largest} "
        + " ".join(f"{key}={value}" for key, value in result.items())
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
