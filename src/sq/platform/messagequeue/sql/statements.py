"""Hot-path statements, written once in both parameter styles (see `dbapi.py`)."""

from __future__ import annotations

from sq.platform.messagequeue.sql.dbapi import Sql

MESSAGE_COLUMNS = (
    "topic",
    "partition_key",
    "seq",
    "message_id",
    "payload",
    "metadata",
    "created_at_ms",
    "published_at_ms",
    "failed_at_ms",
    "failure_count",
    "last_error",
    "original_topic",
    "failure_detail",
    "failed_group",
)
_COLUMNS = ", ".join(MESSAGE_COLUMNS)
_VALUES = ", ".join(":" + c if c != "seq" else "{seq}" for c in MESSAGE_COLUMNS)

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
NEXT_SEQ = Sql(_NEXT_SEQ)
INSERT_MESSAGE = Sql(
    f"INSERT INTO mq_messages ({_COLUMNS}) VALUES ({_VALUES.format(seq=':seq')}) "
    "ON CONFLICT (topic, partition_key, message_id) DO NOTHING RETURNING seq"
)


# SQLite, many messages in one transaction: the store reads which ids are stored and each
# partition's last seq under the write lock, then inserts the rest with their seqs (`store.py`).
NEW_MESSAGE_COLUMNS = MESSAGE_COLUMNS[:8]
"""What a fresh (not dead-lettered) message sets; `publishing.py` builds its rows in this order."""
INSERT_NEW_MESSAGE = Sql(
    f"INSERT INTO mq_messages ({_COLUMNS}) "
    f"VALUES ({', '.join(':' + c for c in NEW_MESSAGE_COLUMNS)}, 0, 0, '', '', NULL, '')"
)
SET_LAST_SEQ = Sql(
    "INSERT INTO mq_partitions (topic, partition_key, last_seq) "
    "VALUES (:topic, :partition_key, :last_seq) "
    "ON CONFLICT (topic, partition_key) DO UPDATE SET last_seq = excluded.last_seq"
)


def stored_ids(count: int) -> str:
    """SQLite: which of `count` (topic, partition key, id) triples are stored already."""
    triples = ", ".join(["(?, ?, ?)"] * count)
    # CROSS JOIN keeps the VALUES list outside, so each triple is one index search.
    return (
        f"WITH v(t, p, i) AS (VALUES {triples}) "
        "SELECT m.topic, m.partition_key, m.message_id FROM v CROSS JOIN mq_messages m "
        "ON m.topic = v.t AND m.partition_key = v.p AND m.message_id = v.i"
    )


def last_seqs(count: int) -> str:
    """SQLite: the last seq of each of `count` (topic, partition key) pairs that has one."""
    pairs = ", ".join(["(?, ?)"] * count)
    return (
        f"WITH v(t, p) AS (VALUES {pairs}) "
        "SELECT s.topic, s.partition_key, s.last_seq FROM v CROSS JOIN mq_partitions s "
        "ON s.topic = v.t AND s.partition_key = v.p"
    )


# PostgreSQL: the same two steps and the wake-up in one round trip.
def _typed(sql: str) -> str:
    # PostgreSQL infers one type per parameter; a key used both as a value and in a comparison
    # would be "text versus character varying" without an explicit type.
    for name in ("topic", "partition_key", "message_id"):
        sql = sql.replace(f":{name}", f"CAST(:{name} AS varchar)")
    return sql


PUBLISH_POSTGRES = Sql(
    _typed(
        f"WITH p AS ({_NEXT_SEQ}), "
        f"m AS (INSERT INTO mq_messages ({_COLUMNS}) "
        f"SELECT {_VALUES.format(seq='p.last_seq')} FROM p "
        "ON CONFLICT (topic, partition_key, message_id) DO NOTHING RETURNING seq) "
        "SELECT m.seq, pg_notify('sq_mq', "
        ":topic || chr(10) || :partition_key) FROM m"
    )
)

_OPEN = (
    "SELECT l.epoch, o.acked_seq, p.last_seq, o.claimed_seq, o.claimed_until_ms FROM mq_leases l "
    "LEFT JOIN mq_offsets o ON o.consumer_group = l.consumer_group AND o.topic = l.topic "
    "AND o.partition_key = l.partition_key "
    "LEFT JOIN mq_partitions p ON p.topic = l.topic AND p.partition_key = l.partition_key "
    "WHERE l.consumer_group = :group AND l.topic = :topic AND l.partition_key = :partition_key "
    "AND l.leased_by = :owner AND l.epoch = :epoch"
)
OPEN_SQLITE = Sql(_OPEN)
# FOR SHARE makes a concurrent takeover wait until this transaction ends (fencing).
OPEN_POSTGRES = Sql(_OPEN + " FOR SHARE OF l")
START_OFFSET = Sql(
    "INSERT INTO mq_offsets (consumer_group, topic, partition_key, acked_seq, updated_at_ms) "
    "VALUES (:group, :topic, :partition_key, 0, :now) "
    "ON CONFLICT (consumer_group, topic, partition_key) DO NOTHING"
)

_STATE_JOIN = (
    "LEFT JOIN mq_delivery d ON d.consumer_group = :group AND d.topic = m.topic "
    "AND d.partition_key = m.partition_key AND d.seq = m.seq "
)
FIRST_UNACKED = Sql(
    "SELECT m.seq FROM mq_messages m "
    + _STATE_JOIN
    + "WHERE m.topic = :topic AND m.partition_key = :partition_key AND m.seq > :low "
    "AND m.seq <= :high AND (d.acked IS NULL OR NOT d.acked) ORDER BY m.seq LIMIT 1"
)
WINDOW = Sql(
    f"SELECT {', '.join('m.' + c for c in MESSAGE_COLUMNS)}, "
    "d.acked, d.invisible_until_ms, d.retry_count, d.postponed, d.seq AS state_seq "
    "FROM mq_messages m "
    + _STATE_JOIN
    + "WHERE m.topic = :topic AND m.partition_key = :partition_key AND m.seq > :low "
    "ORDER BY m.seq LIMIT :limit"
)
SOURCE = Sql(
    f"SELECT {_COLUMNS} FROM mq_messages "
    "WHERE topic = :topic AND partition_key = :partition_key AND seq = :seq"
)
MOVE_WATERMARK = Sql(
    "UPDATE mq_offsets SET acked_seq = :watermark, updated_at_ms = :now "
    "WHERE consumer_group = :group AND topic = :topic AND partition_key = :partition_key "
    "AND acked_seq < :watermark"
)
FORGET_STATES = Sql(
    "DELETE FROM mq_delivery WHERE consumer_group = :group AND topic = :topic "
    "AND partition_key = :partition_key AND seq <= :watermark"
)

# --- one delivery's state --------------------------------------------------------------------

_STATE_KEY = (
    "WHERE consumer_group = :group AND topic = :topic AND partition_key = :partition_key "
    "AND seq = :seq AND NOT acked"
)
_STATE_INSERT = (
    "INSERT INTO mq_delivery (consumer_group, topic, partition_key, seq, acked, "
    "invisible_until_ms, retry_count, postponed) "
)
_STATE_CONFLICT = "ON CONFLICT (consumer_group, topic, partition_key, seq) DO UPDATE SET "
ACK = Sql(
    _STATE_INSERT
    + "VALUES (:group, :topic, :partition_key, :seq, TRUE, 0, 0, FALSE) "
    + _STATE_CONFLICT
    + "acked = TRUE"
)
CLAIM = Sql(
    _STATE_INSERT
    + "VALUES (:group, :topic, :partition_key, :seq, FALSE, :until, :retry_count, FALSE) "
    + _STATE_CONFLICT
    + "acked = FALSE, invisible_until_ms = excluded.invisible_until_ms, "
    "retry_count = excluded.retry_count, postponed = FALSE"
)
# A first delivery claimed with its range has no row yet: RETRY and POSTPONE write one.
RETRY = Sql(
    _STATE_INSERT
    + "VALUES (:group, :topic, :partition_key, :seq, FALSE, :until, 0, FALSE) "
    + _STATE_CONFLICT
    + "invisible_until_ms = excluded.invisible_until_ms, postponed = FALSE "
    "WHERE NOT mq_delivery.acked"
)
POSTPONE = Sql(
    _STATE_INSERT
    + "VALUES (:group, :topic, :partition_key, :seq, FALSE, :until, 0, TRUE) "
    + _STATE_CONFLICT
    + "invisible_until_ms = excluded.invisible_until_ms, postponed = TRUE, retry_count = 0 "
    "WHERE NOT mq_delivery.acked"
)
EXTEND = Sql("UPDATE mq_delivery SET invisible_until_ms = :until " + _STATE_KEY)
EXTEND_CLAIMED = Sql(
    _STATE_INSERT + "VALUES (:group, :topic, :partition_key, :seq, FALSE, :until, 0, FALSE) "
    "ON CONFLICT (consumer_group, topic, partition_key, seq) DO NOTHING"
)
FORGET_DELIVERY = Sql("DELETE FROM mq_delivery " + _STATE_KEY)
RESTORE_DELIVERY = Sql(
    "UPDATE mq_delivery SET invisible_until_ms = 0, retry_count = :retry_count " + _STATE_KEY
)

# --- the claimed range of first deliveries (see `cycle.py`) -------------------------------------

CLAIM_RANGE = Sql(
    "UPDATE mq_offsets SET claimed_seq = :claimed_seq, claimed_until_ms = :until "
    "WHERE consumer_group = :group AND topic = :topic AND partition_key = :partition_key"
)
UNCLAIM = Sql(
    "UPDATE mq_offsets SET claimed_seq = :seq - 1 "
    "WHERE consumer_group = :group AND topic = :topic AND partition_key = :partition_key "
    "AND claimed_seq >= :seq"
)
HOLD_CLAIMED = Sql(
    _STATE_INSERT
    + "SELECT :group, topic, partition_key, seq, FALSE, :until, 0, FALSE FROM mq_messages "
    "WHERE topic = :topic AND partition_key = :partition_key AND seq > :low AND seq <= :high "
    "ON CONFLICT (consumer_group, topic, partition_key, seq) DO NOTHING"
)
