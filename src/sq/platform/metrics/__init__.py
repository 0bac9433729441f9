"""Prometheus metrics shared by every service (doc/operating.md lists them all).

Two kinds: counters and histograms a process moves as it works (module-level, on the default
registry, so each is registered once per process), and collectors that read a service's own
database when `/metrics` is scraped. A collector runs a fixed number of statements, whatever the
size of its tables, and is registered on the registry of the app that serves it, never on the
default one (tests build many apps in one process).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.metrics_core import HistogramMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection, Engine

from sq.platform.db import read_only

__all__ = [
    "DURATION_BUCKETS_S",
    "Collector",
    "SqlCollector",
    "app_registry",
    "sql_histogram",
]

DURATION_BUCKETS_S: tuple[float, ...] = (
    1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200, 86400,
)  # fmt: skip
"""Buckets (seconds) for turnarounds that take from a second to a day."""


class _ProcessMetrics(Collector):
    """Everything on the default registry: this process's counters and Python's own."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def app_registry(collectors: Iterable[Collector] = ()) -> CollectorRegistry:
    """A registry for one app's `/metrics`: the process-wide metrics plus `collectors`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessMetrics())
    for collector in collectors:
        registry.register(collector)
    return registry


class SqlCollector(Collector):
    """Runs `read(conn, now_ms)` in one read-only connection per scrape. A database that cannot
    be read yields nothing (the scrape still answers), so a broken database shows as missing
    series rather than as a failed scrape of every other metric."""

    def __init__(
        self,
        engine: Engine,
        read: Callable[[Connection, int], Iterable[Metric]],
        now_ms: Callable[[], int],
    ) -> None:
        self.engine, self.read, self.now_ms = engine, read, now_ms

    def collect(self) -> Iterator[Metric]:
        try:
            with read_only(self.engine) as conn:
                found = list(self.read(conn, self.now_ms()))
        except sa.exc.SQLAlchemyError:
            return iter(())
        return iter(found)


def sql_histogram(
    conn: Connection,
    family: HistogramMetricFamily,
    *,
    value_ms: Any,
    where: Any,
    group_by: Sequence[Any],
    select_from: Any,
    buckets_s: Sequence[float] = DURATION_BUCKETS_S,
) -> None:
    """Add one sample set per group to `family`: the cumulative bucket counts and sum of
    `value_ms` (a SQL expression in milliseconds) over the rows `where` selects, counted by the
    database in one statement."""
    columns: list[Any] = [
        sa.func.sum(sa.case((value_ms <= round(b * 1000), 1), else_=0)) for b in buckets_s
    ]
    query = (
        sa.select(*group_by, sa.func.count(), sa.func.coalesce(sa.func.sum(value_ms), 0), *columns)
        .select_from(select_from)
        .where(where)
        .group_by(*group_by)
    )
    width = len(group_by)
    for row in conn.execute(query):
        labels = [str(v) for v in row[:width]]
        count, total = int(row[width]), float(row[width + 1]) / 1000
        cumulative = [int(c or 0) for c in row[width + 2 :]]
        pairs = [(_bound(b), float(c)) for b, c in zip(buckets_s, cumulative, strict=True)]
        pairs.append(("+Inf", float(count)))
        family.add_metric(labels, pairs, total)


def _bound(seconds: float) -> str:
    return str(float(seconds))
