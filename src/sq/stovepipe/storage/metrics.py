"""Stovepipe's metrics, read from its tables on scrape (three statements): when each branch and
project was last green and how long ago, and how long a breakage took to be found
(stovepipe-spec §2.5; tests #70, #71).

Times are those Stovepipe recorded: a head's ingest time stands for its commit time, and the
detection time of a breakage runs from the ingest of the last green head it was built on (its
base) to the broken fact's record. Only incremental validations have a base; full ones are not
sampled, as in the spec.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.metrics_core import HistogramMetricFamily
from sqlalchemy.engine import Connection, Engine

from sq.platform.metrics import SqlCollector, sql_histogram
from sq.stovepipe.entity import DEGREE_BROKEN
from sq.stovepipe.storage.schema import facts, project_heads, queues, requests


def _read(conn: Connection, now_ms: int) -> Iterator[Metric]:
    stamp = GaugeMetricFamily(
        "sq_stovepipe_last_green_timestamp_seconds",
        'When the newest green head of a branch (project "") or project was ingested',
        labels=["queue", "project"],
    )
    age = GaugeMetricFamily(
        "sq_stovepipe_last_green_age_seconds",
        'How long ago the newest green head of a branch (project "") or project was ingested',
        labels=["queue", "project"],
    )
    r = requests.c
    branch = sa.select(queues.c.name, sa.literal(""), r.created_at_ms).select_from(
        queues.join(requests, (r.queue == queues.c.name) & (r.id == queues.c.last_green_request_id))
    )
    ph = project_heads.c
    project = sa.select(ph.queue, ph.project, r.created_at_ms).select_from(
        project_heads.join(requests, (r.queue == ph.queue) & (r.id == ph.last_green_request_id))
    )
    for query in (branch, project):
        for queue, name, created_ms in conn.execute(query):
            if created_ms and created_ms > 0:
                stamp.add_metric([queue, name], created_ms / 1000)
                age.add_metric([queue, name], max(0.0, (now_ms - created_ms) / 1000))
    yield stamp
    yield age

    detection = HistogramMetricFamily(
        "sq_stovepipe_failure_detection_seconds",
        "From the ingest of the green base a breaking head was validated on to its broken fact",
        labels=["queue"],
    )
    broken = requests.alias("broken")
    base = requests.alias("base")
    f = facts.c
    joined = facts.join(broken, (broken.c.queue == f.queue) & (broken.c.id == f.request_id)).join(
        base, (base.c.queue == broken.c.queue) & (base.c.uri == broken.c.base_uri)
    )
    sql_histogram(
        conn,
        detection,
        value_ms=f.created_at_ms - base.c.created_at_ms,
        where=sa.and_(
            f.project == "",
            f.degree >= DEGREE_BROKEN,
            broken.c.base_uri != "",
            base.c.created_at_ms > 0,
        ),
        group_by=[f.queue],
        select_from=joined,
    )
    yield detection


def stovepipe_collector(engine: Engine, now_ms: Callable[[], int]) -> SqlCollector:
    return SqlCollector(engine, _read, now_ms)
