"""The orchestrator's metrics, read from its tables on scrape (four statements, and one per queue
with deep batching): heads in flight and the dependencies they were given, builds funded, running,
finished by outcome and preempted, builds per landed change, and how deep a batching queue is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection, Engine

from sq.platform.metrics import SqlCollector
from sq.submitqueue.core.batching import DeepBatching
from sq.submitqueue.entity.batch import ACTIVE_STATES, BatchState
from sq.submitqueue.entity.build import BuildStatus
from sq.submitqueue.entity.request import RequestState
from sq.submitqueue.orchestrator.storage import tables as t

_OUTCOMES = {
    BuildStatus.SUCCEEDED.value: "passed",
    BuildStatus.FAILED.value: "failed",
    BuildStatus.CANCELLED.value: "cancelled",
    BuildStatus.LOST.value: "lost",
}
_RUNNING = {BuildStatus.ACCEPTED.value, BuildStatus.RUNNING.value, BuildStatus.UNKNOWN.value}
_STOPPED_BATCH = (BatchState.CANCELLING.value, BatchState.CANCELLED.value)


def _read(conn: Connection, _now_ms: int) -> Iterator[Metric]:
    b, bu, r = t.batch.c, t.build.c, t.request.c
    heads = GaugeMetricFamily(
        "sq_heads_in_flight", "Batches (heads) being speculated on or landed", labels=["queue"]
    )
    dependencies = GaugeMetricFamily(
        "sq_head_dependencies",
        "Dependencies the heads in flight were given at analysis, summed; per head (divide by "
        "sq_heads_in_flight) about 1-2 times the conflict density q*rate*build time",
        labels=["queue"],
    )
    active = [s.value for s in ACTIVE_STATES]
    in_flight = (
        sa.select(b.queue, sa.func.count(), sa.func.sum(sa.func.json_array_length(b.dependencies)))
        .where(b.state.in_(active))
        .group_by(b.queue)
    )
    for queue, count, total in conn.execute(in_flight):
        heads.add_metric([queue], float(count))
        dependencies.add_metric([queue], float(total or 0))
    yield heads
    yield dependencies

    funded: dict[str, int] = defaultdict(int)
    running: dict[str, int] = defaultdict(int)
    finished = CounterMetricFamily(
        "sq_builds_finished",
        "Builds that ended, by outcome (passed, failed, cancelled; preempted ones are cancelled; "
        "lost: their runner went away, a restart, and the path was built again)",
        labels=["queue", "outcome"],
    )
    by_status = sa.select(bu.queue, bu.status, sa.func.count()).group_by(bu.queue, bu.status)
    for queue, status, count in conn.execute(by_status):
        funded[queue] += count
        if status in _RUNNING:
            running[queue] += count
        elif status in _OUTCOMES:
            finished.add_metric([queue, _OUTCOMES[status]], float(count))
    funded_family = CounterMetricFamily(
        "sq_builds_funded", "Builds speculation funded and dispatched", labels=["queue"]
    )
    running_family = GaugeMetricFamily(
        "sq_builds_running", "Builds dispatched and not finished", labels=["queue"]
    )
    for queue in sorted(funded):
        funded_family.add_metric([queue], float(funded[queue]))
        running_family.add_metric([queue], float(running[queue]))
    yield funded_family
    yield running_family
    yield finished

    preempted = CounterMetricFamily(
        "sq_builds_preempted",
        "Builds cancelled although their change was not: speculation stopped funding them",
        labels=["queue"],
    )
    stopped = (
        sa.select(bu.queue, sa.func.count())
        .select_from(t.build.join(t.batch, (b.queue == bu.queue) & (b.id == bu.batch_id)))
        .where(bu.status == BuildStatus.CANCELLED.value, b.state.not_in(_STOPPED_BATCH))
        .group_by(bu.queue)
    )
    for queue, count in conn.execute(stopped):
        preempted.add_metric([queue], float(count))
    yield preempted

    per_landed = GaugeMetricFamily(
        "sq_builds_per_landed_change",
        "Builds funded so far divided by the requests landed so far",
        labels=["queue"],
    )
    landed = (
        sa.select(r.queue, sa.func.count())
        .where(r.state == RequestState.LANDED.value)
        .group_by(r.queue)
    )
    for queue, count in conn.execute(landed):
        if count:
            per_landed.add_metric([queue], funded.get(queue, 0) / count)
    yield per_landed


def _read_depth(
    conn: Connection, now_ms: int, deep: Mapping[str, DeepBatching]
) -> Iterator[Metric]:
    """For each queue with deep batching: the arrivals over its window, and whether that makes
    it deep (as the batch stage decides at its next formation)."""
    arrivals = GaugeMetricFamily(
        "sq_batch_arrivals",
        "Requests that arrived at the batch stage over the last build time (deep batching)",
        labels=["queue"],
    )
    deep_family = GaugeMetricFamily(
        "sq_batching_deep",
        "1 while the queue batches by its deep rules (CI short of workers), else 0",
        labels=["queue"],
    )
    a = t.batch_arrival.c
    for queue, rules in sorted(deep.items()):
        counted = sa.select(sa.func.count()).where(
            a.queue == queue, a.at_ms > now_ms - rules.build_time_ms
        )
        count = int(conn.execute(counted).scalar_one())
        arrivals.add_metric([queue], float(count))
        deep_family.add_metric([queue], 1.0 if count >= rules.arrivals else 0.0)
    yield arrivals
    yield deep_family


def orchestrator_collector(
    engine: Engine, now_ms: Callable[[], int], deep: Mapping[str, DeepBatching] | None = None
) -> SqlCollector:
    """`deep`: each queue's deep batching rules, for `sq_batch_arrivals` and
    `sq_batching_deep` (none: those two are left out)."""
    if not deep:
        return SqlCollector(engine, _read, now_ms)
    rules = dict(deep)

    def read(conn: Connection, now: int) -> Iterator[Metric]:
        yield from _read(conn, now)
        yield from _read_depth(conn, now, rules)

    return SqlCollector(engine, read, now_ms)
