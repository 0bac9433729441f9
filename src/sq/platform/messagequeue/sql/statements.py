"""Hot-path statements, written once: building SQLAlchemy constructs per call costs more than
the database does on SQLite (measured in bench/queue_throughput.py)."""

from __future__ import annotations

import sqlalchemy as sa

_MESSAGE_COLUMNS = (
    "topic, partition_key, seq, message_id, payload, metadata, created_at_ms, published_at_ms, "
    "failed_at_ms, failure_count, last_error, original_topic, failure_detail, failed_group"
)
_MESSAGE_VALUES = (
    ":topic, :partition_key, {seq}, :message_id, :payload, :metadata, :created_at_ms, "
    ":published_at_ms, :failed_at_ms, :failure_count, :last_error, :original_topic, "
    ":failure_detail, :failed_group"
)

# The upsert takes the partition row's lock until commit, so concurrent publishers to one
# partition commit in the order they got their sequence numbers (platform-spec §7.2-1). A stored
# id allocates nothing; only two racing publishers of one new id can leave a gap, and gaps never
# block a watermark (window.advance_watermark).
_NOT_STORED = (
    "WHERE NOT EXISTS (SELECT 1 FROM mq_messages WHERE topic = :topic "
    "AND partition_key = :partition_key AND message_id = :message_id) "
)
_NEXT_SEQ = (
    "INSERT INTO mq_partitions (topic, partition_key, last_seq) "
    "SELECT :topic, :partition_key, 1 "
    + _NOT_STORED
    + "ON CONFLICT (topic, partition_key) DO UPDATE SET last_seq = mq_partitions.last_seq + 1 "
    "RETURNING last_seq"
)
NEXT_SEQ = sa.text(_NEXT_SEQ)
INSERT_MESSAGE = sa.text(
    f"INSERT INTO mq_messages ({_MESSAGE_COLUMNS}) VALUES ({_MESSAGE_VALUES.format(seq=':seq')}) "
    "ON CONFLICT (topic, partition_key, message_id) DO NOTHING RETURNING seq"
)


# PostgreSQL: the same two steps and the wake-up in one round trip.
def _typed(sql: str) -> str:
    # PostgreSQL infers one type per parameter; a key used both as a value and in a comparison
    # would be "text versus character varying" without an explicit type.
    for name in ("topic", "partition_key", "message_id"):
        sql = sql.replace(f":{name}", f"CAST(:{name} AS varchar)")
    return sql


PUBLISH_POSTGRES = sa.text(
    _typed(
        f"WITH p AS ({_NEXT_SEQ}), "
        f"m AS (INSERT INTO mq_messages ({_MESSAGE_COLUMNS}) "
        f"SELECT {_MESSAGE_VALUES.format(seq='p.last_seq')} FROM p "
        "ON CONFLICT (topic, partition_key, message_id) DO NOTHING RETURNING seq) "
        "SELECT m.seq, pg_notify('sq_mq', "
        ":topic || chr(10) || :partition_key) FROM m"
    )
)

_OPEN = (
    "SELECT l.epoch, o.acked_seq, p.last_seq FROM mq_leases l "
    "LEFT JOIN mq_offsets o ON o.consumer_group = l.consumer_group AND o.topic = l.topic "
    "AND o.partition_key = l.partition_key "
    "LEFT JOIN mq_partitions p ON p.topic = l.topic AND p.partition_key = l.partition_key "
    "WHERE l.consumer_group = :group AND l.topic = :topic AND l.partition_key = :partition_key "
    "AND l.leased_by = :owner AND l.epoch = :epoch"
)
OPEN_SQLITE = sa.text(_OPEN)
# FOR SHARE makes a concurrent takeover wait until this transaction ends (fencing).
OPEN_POSTGRES = sa.text(_OPEN + " FOR SHARE OF l")

_STATE_JOIN = (
    "LEFT JOIN mq_delivery d ON d.consumer_group = :group AND d.topic = m.topic "
    "AND d.partition_key = m.partition_key AND d.seq = m.seq "
)
FIRST_UNACKED = sa.text(
    "SELECT m.seq FROM mq_messages m "
    + _STATE_JOIN
    + "WHERE m.topic = :topic AND m.partition_key = :partition_key AND m.seq > :low "
    "AND m.seq <= :high AND (d.acked IS NULL OR NOT d.acked) ORDER BY m.seq LIMIT 1"
)
WINDOW = sa.text(
    f"SELECT {', '.join('m.' + c.strip() for c in _MESSAGE_COLUMNS.split(','))}, "
    "d.acked, d.invisible_until_ms, d.retry_count, d.postponed, d.seq AS state_seq "
    "FROM mq_messages m "
    + _STATE_JOIN
    + "WHERE m.topic = :topic AND m.partition_key = :partition_key AND m.seq > :low "
    "ORDER BY m.seq LIMIT :limit"
)
MOVE_WATERMARK = sa.text(
    "UPDATE mq_offsets SET acked_seq = :watermark, updated_at_ms = :now "
    "WHERE consumer_group = :group AND topic = :topic AND partition_key = :partition_key "
    "AND acked_seq < :watermark"
)
FORGET_STATES = sa.text(
    "DELETE FROM mq_delivery WHERE consumer_group = :group AND topic = :topic "
    "AND partition_key = :partition_key AND seq <= :watermark"
)
