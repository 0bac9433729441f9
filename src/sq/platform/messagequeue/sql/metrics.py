"""Per topic and consumer group, on scrape: messages published that the group has not acked yet
(its backlog), and the age of the oldest of them. Two statements; both read only partitions that
still hold work (the partial index on unsettled partitions, and the stored messages)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlalchemy.engine import Connection, Engine

from sq.platform.messagequeue.sql.schema import messages, offsets, partitions
from sq.platform.metrics import SqlCollector


def _read(conn: Connection, now_ms: int) -> Iterator[Metric]:
    backlog = GaugeMetricFamily(
        "sq_topic_backlog_messages",
        "Messages on a topic that a consumer group has not acked yet",
        labels=["topic", "consumer_group"],
    )
    oldest = GaugeMetricFamily(
        "sq_topic_oldest_message_age_seconds",
        "Age of the oldest message on a topic that a consumer group has not acked yet",
        labels=["topic", "consumer_group"],
    )
    p, o, m = partitions.c, offsets.c, messages.c
    same = (o.topic == p.topic) & (o.partition_key == p.partition_key)
    lag = (
        sa.select(o.topic, o.consumer_group, sa.func.sum(p.last_seq - o.acked_seq))
        .select_from(partitions.join(offsets, same))
        .where(p.last_seq > p.settled_seq, p.last_seq > o.acked_seq)
        .group_by(o.topic, o.consumer_group)
    )
    for topic, group, behind in conn.execute(lag):
        backlog.add_metric([topic, group], float(behind or 0))
    first = (
        sa.select(o.topic, o.consumer_group, sa.func.min(m.published_at_ms))
        .select_from(
            messages.join(
                offsets,
                (o.topic == m.topic) & (o.partition_key == m.partition_key) & (m.seq > o.acked_seq),
            )
        )
        .group_by(o.topic, o.consumer_group)
    )
    for topic, group, first_ms in conn.execute(first):
        oldest.add_metric([topic, group], max(0.0, (now_ms - int(first_ms or now_ms)) / 1000))
    yield backlog
    yield oldest


def queue_collector(engine: Engine, now_ms: Callable[[], int]) -> SqlCollector:
    return SqlCollector(engine, _read, now_ms)
