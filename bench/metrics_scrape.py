"""What a `/metrics` scrape costs as the gateway's and orchestrator's tables grow.

The collectors read their service's tables on scrape with a fixed number of statements, but those
statements group or scan every row (terminal requests and builds are kept forever), so the cost
grows with history. This fills fresh SQLite files with N requests (9 in 10 landed), N batches and
N builds (1 in 7 cancelled), then times each collector; each figure is the best of `--repeat`.
The last `--in-flight` batches (300) are heads in flight, each depending on every head before it,
as under `conflict_analyzer: all`: `sq_head_dependencies` reads every one of those lists.
The RESULT line gives the cost per 10,000 rows at the largest size, and the ratio of the largest
size's cost to the next largest's over the ratio of their row counts (1.0: linear).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from prometheus_client.registry import Collector

from benchargs import parse_with_quick
from sq.platform import migrations
from sq.platform.db import create_engine
from sq.submitqueue.gateway.metrics import gateway_collector
from sq.submitqueue.gateway.storage import schema_set
from sq.submitqueue.gateway.storage.schema import request_summary
from sq.submitqueue.orchestrator.metrics import orchestrator_collector
from sq.submitqueue.orchestrator.storage import schema
from sq.submitqueue.orchestrator.storage import tables as t


def best_ms(collector: Collector, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        list(collector.collect())
        best = min(best, time.perf_counter() - start)
    return best * 1000


def summary(i: int) -> dict[str, object]:
    return {
        "queue": "q", "request_id": f"q/{i}", "number": i, "change_uris": [],
        "land_strategy": "rebase", "received_at_ms": i * 1000,
        "status": "landed" if i % 10 else "error", "request_version": 1,
        "status_timestamp_ms": i * 1000 + 60_000 + i % 900_000, "last_error": "",
        "metadata": {}, "version": 1,
    }  # fmt: skip


def batch(i: int, rows: int, in_flight: int) -> dict[str, object]:
    """Batch i of `rows`; the last `in_flight` are heads, each depending on every head before it
    (`conflict_analyzer: all`, the densest dependency lists a queue holds)."""
    first = rows - min(in_flight, rows) + 1
    deps = [f"q/batch/{j}" for j in range(first, i)] if i >= first else []
    state = "speculating" if i >= first else "succeeded"
    return {"queue": "q", "id": f"q/batch/{i}", "contains": [], "dependencies": deps,
            "state": state, "version": 1}  # fmt: skip


def filled(root: Path, rows: int, in_flight: int) -> tuple[Collector, Collector]:
    now: Callable[[], int] = lambda: 0  # noqa: E731
    gateway = create_engine(f"sqlite:///{root / 'gateway.db'}")
    migrations.upgrade(gateway, schema_set(), migrations.counter_schema())
    orchestrator = create_engine(f"sqlite:///{root / 'orchestrator.db'}")
    migrations.upgrade(orchestrator, schema(), migrations.counter_schema())
    numbers = range(1, rows + 1)
    with gateway.begin() as conn:
        conn.execute(sa.insert(request_summary), [summary(i) for i in numbers])
    with orchestrator.begin() as conn:
        conn.execute(sa.insert(t.batch), [batch(i, rows, in_flight) for i in numbers])
        conn.execute(
            sa.insert(t.build),
            [{"queue": "q", "id": f"b{i}", "batch_id": f"q/batch/{i}", "path_id": "p",
              "attempt": 1, "status": "succeeded" if i % 7 else "cancelled"} for i in numbers],
        )  # fmt: skip
        conn.execute(
            sa.insert(t.request),
            [{"queue": "q", "id": f"q/{i}", "uris": [], "strategy": "", "state": "landed",
              "version": 1} for i in numbers],
        )  # fmt: skip
    return gateway_collector(gateway, now), orchestrator_collector(orchestrator, now)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--in-flight", type=int, default=300, help="heads in flight among the batches"
    )
    args = parse_with_quick(parser, {"sizes": "1000,10000", "repeat": 2})
    if args.in_flight < 0:
        parser.error("--in-flight must not be negative")
    sizes = sorted(int(s) for s in args.sizes.split(","))
    costs: dict[int, tuple[float, float]] = {}
    for rows in sizes:
        with tempfile.TemporaryDirectory() as root:
            gateway, orchestrator = filled(Path(root), rows, args.in_flight)
            costs[rows] = (best_ms(gateway, args.repeat), best_ms(orchestrator, args.repeat))
        print(f"rows={rows} gateway_ms={costs[rows][0]:.1f} orchestrator_ms={costs[rows][1]:.1f}")
    low, high = sizes[-2] if len(sizes) > 1 else sizes[0], sizes[-1]
    per_10k = [c * 10_000 / high for c in costs[high]]
    growth = [(costs[high][k] / max(costs[low][k], 1e-6)) / (high / low) for k in (0, 1)]
    print(
        f"RESULT gateway_ms_per_10k_rows={per_10k[0]:.1f} "
        f"orchestrator_ms_per_10k_rows={per_10k[1]:.1f} "
        f"gateway_growth_over_linear={growth[0]:.2f} "
        f"orchestrator_growth_over_linear={growth[1]:.2f}"
    )


if __name__ == "__main__":
    main()
