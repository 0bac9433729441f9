"""The gateway's metrics, read from its request summaries on scrape (four statements): requests
by status, landings, the time from acceptance to landing, and the queues' modes."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.metrics_core import HistogramMetricFamily
from sqlalchemy.engine import Connection, Engine

from sq.platform.metrics import SqlCollector, sql_histogram
from sq.submitqueue.gateway.status import RequestStatus
from sq.submitqueue.gateway.storage.schema import queue_control, request_summary

_MODES = ("active", "paused", "draining")


def _read(conn: Connection, _now_ms: int) -> Iterator[Metric]:
    s = request_summary.c
    by_status = GaugeMetricFamily(
        "sq_requests", "Requests by queue and current status", labels=["queue", "status"]
    )
    landings = CounterMetricFamily(
        "sq_landings", "Requests that landed", labels=["queue"]
    )  # exposed as sq_landings_total
    visible = s.status != RequestStatus.ACCEPTING.value
    query = sa.select(s.queue, s.status, sa.func.count()).where(visible).group_by(s.queue, s.status)
    for queue, status, count in conn.execute(query):
        by_status.add_metric([queue, status], float(count))
        if status == RequestStatus.LANDED.value:
            landings.add_metric([queue], float(count))
    yield by_status
    yield landings
    turnaround = HistogramMetricFamily(
        "sq_accept_to_landed_seconds",
        "Time from a request's acceptance to its landing",
        labels=["queue"],
    )
    sql_histogram(
        conn,
        turnaround,
        value_ms=s.status_timestamp_ms - s.received_at_ms,
        where=s.status == RequestStatus.LANDED.value,
        group_by=[s.queue],
        select_from=request_summary,
    )
    yield turnaround
    modes = GaugeMetricFamily(
        "sq_queue_mode",
        "1 for the mode an operator set on a queue (active, paused, draining); queues never "
        "changed are active and not listed",
        labels=["queue", "mode"],
    )
    for queue, mode in conn.execute(sa.select(queue_control.c.queue, queue_control.c.mode)):
        for name in _MODES:
            modes.add_metric([queue, name], 1.0 if mode == name else 0.0)
    yield modes


def gateway_collector(engine: Engine, now_ms: Callable[[], int]) -> SqlCollector:
    return SqlCollector(engine, _read, now_ms)
