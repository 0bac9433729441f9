"""Discovery, lease and heartbeat statements, written once (see `dbapi.py`).

Each supervisor runs these at every discovery, lease claim and lease tick; built with SQLAlchemy
Core per call (cache keys, coercions) they cost more than the database did at depth, where a lease
tick renews thousands of leases (doc/benchmarks.md, "At depth").
"""

from __future__ import annotations

from sq.platform.messagequeue.sql.dbapi import Sql

# The watermark as a correlated lookup by primary key, not a join: without statistics (a young
# table, before autovacuum) PostgreSQL planned the join as a nested loop over every offset row of
# the topic for each partition (1.5 s for 3,000 partitions). `last_seq > settled_seq` is the
# partial index's own predicate, written as in the index so that SQLite uses it.
DISCOVER = Sql(
    "SELECT partition_key FROM mq_partitions WHERE topic = :topic "
    "AND last_seq > settled_seq "
    "AND last_seq > COALESCE((SELECT o.acked_seq FROM mq_offsets o "
    "WHERE o.consumer_group = :group AND o.topic = mq_partitions.topic "
    "AND o.partition_key = mq_partitions.partition_key), 0) "
    "ORDER BY partition_key"
)
TRY_ACQUIRE = Sql(
    "INSERT INTO mq_leases "
    "(consumer_group, topic, partition_key, leased_by, epoch, leased_at_ms, renewed_at_ms) "
    "VALUES (:group, :topic, :partition_key, :owner, 1, :now, :now) "
    "ON CONFLICT (consumer_group, topic, partition_key) DO UPDATE SET "
    "leased_by = excluded.leased_by, epoch = mq_leases.epoch + 1, "
    "leased_at_ms = excluded.leased_at_ms, renewed_at_ms = excluded.renewed_at_ms "
    "WHERE mq_leases.leased_by = '' OR mq_leases.renewed_at_ms < :stale_before "
    "RETURNING epoch"
)
RENEW = Sql(
    "UPDATE mq_leases SET renewed_at_ms = :now WHERE consumer_group = :group AND topic = :topic "
    "AND partition_key = :partition_key AND leased_by = :owner AND epoch = :epoch"
)
HEARTBEAT = Sql(
    "INSERT INTO mq_heartbeats (consumer_group, topic, subscriber, heartbeat_at_ms) "
    "VALUES (:group, :topic, :owner, :now) "
    "ON CONFLICT (consumer_group, topic, subscriber) DO UPDATE SET "
    "heartbeat_at_ms = excluded.heartbeat_at_ms"
)
ACTIVE_SUBSCRIBERS = Sql(
    "SELECT subscriber FROM mq_heartbeats WHERE consumer_group = :group AND topic = :topic "
    "AND heartbeat_at_ms >= :since"
)
GATE_CLOSED = Sql(
    "SELECT 1 FROM mq_gates WHERE consumer_group = :group AND partition_key IN ('', :partition_key)"
)
