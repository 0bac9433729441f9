"""Tables of the message queue. Every timestamp is epoch milliseconds."""

from __future__ import annotations

import sqlalchemy as sa

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s_%(column_1_name)s_%(column_2_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)

_KEY = sa.String(255)


def _partial_index(name: str, *columns: str, where: str) -> sa.Index:
    """An index of the rows matching `where`, on SQLite and PostgreSQL alike."""
    predicate = sa.text(where)
    return sa.Index(name, *columns, sqlite_where=predicate, postgresql_where=predicate)


partitions = sa.Table(
    "mq_partitions",
    metadata,
    sa.Column("topic", _KEY, primary_key=True),
    sa.Column("partition_key", _KEY, primary_key=True),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column(
        "settled_seq",
        sa.BigInteger,
        nullable=False,
        server_default="0",
        doc="up to here nothing is stored and every group has passed: a partition with "
        "last_seq = settled_seq has no work for anyone, and discovery does not look at it",
    ),
    # Partitions used once (a batch id, a request id) pile up; discovery reads only this index.
    _partial_index(
        "ix_mq_partitions_unsettled", "topic", "partition_key", where="last_seq > settled_seq"
    ),
)

messages = sa.Table(
    "mq_messages",
    metadata,
    sa.Column("topic", _KEY, primary_key=True),
    sa.Column("partition_key", _KEY, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("message_id", _KEY, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("metadata", sa.Text, nullable=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("published_at_ms", sa.BigInteger, nullable=False),
    sa.Column("failed_at_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("failure_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_error", sa.Text, nullable=False, server_default=""),
    sa.Column("original_topic", _KEY, nullable=False, server_default=""),
    sa.Column("failure_detail", sa.Text, nullable=True),
    sa.Column("failed_group", _KEY, nullable=False, server_default=""),
    # The dedup key is (topic, partition key, id); the id leads its index so that ids minted
    # close together (counters, request ids, timestamps) sit on the same few pages whatever their
    # partitions: a commit then rewrites those pages instead of one per partition it touched.
    sa.UniqueConstraint("topic", "message_id", "partition_key"),
)

delivery = sa.Table(
    "mq_delivery",
    metadata,
    sa.Column("consumer_group", _KEY, primary_key=True),
    sa.Column("topic", _KEY, primary_key=True),
    sa.Column("partition_key", _KEY, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("acked", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("invisible_until_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("retry_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("postponed", sa.Boolean, nullable=False, server_default=sa.false()),
)

offsets = sa.Table(
    "mq_offsets",
    metadata,
    sa.Column("consumer_group", _KEY, primary_key=True),
    sa.Column("topic", _KEY, primary_key=True),
    sa.Column("partition_key", _KEY, primary_key=True),
    sa.Column("acked_seq", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("updated_at_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column(
        "claimed_seq",
        sa.BigInteger,
        nullable=False,
        server_default="0",
        doc="first deliveries up to here are in flight until claimed_until_ms, unless a "
        "mq_delivery row says otherwise",
    ),
    sa.Column("claimed_until_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Index("ix_mq_offsets_topic_partition", "topic", "partition_key"),
)

leases = sa.Table(
    "mq_leases",
    metadata,
    sa.Column("consumer_group", _KEY, primary_key=True),
    sa.Column("topic", _KEY, primary_key=True),
    sa.Column("partition_key", _KEY, primary_key=True),
    sa.Column("leased_by", _KEY, nullable=False, server_default=""),
    sa.Column("epoch", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("leased_at_ms", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("renewed_at_ms", sa.BigInteger, nullable=False, server_default="0"),
    # Released rows are kept (their epoch fences a former owner); discovery reads held ones.
    _partial_index("ix_mq_leases_held", "consumer_group", "topic", where="leased_by <> ''"),
)

heartbeats = sa.Table(
    "mq_heartbeats",
    metadata,
    sa.Column("consumer_group", _KEY, primary_key=True),
    sa.Column("topic", _KEY, primary_key=True),
    sa.Column("subscriber", _KEY, primary_key=True),
    sa.Column("heartbeat_at_ms", sa.BigInteger, nullable=False),
)

gates = sa.Table(
    "mq_gates",
    metadata,
    sa.Column("consumer_group", _KEY, primary_key=True),
    sa.Column("partition_key", _KEY, primary_key=True, doc="'' closes every partition"),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("created_by", _KEY, nullable=False, server_default=""),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False, server_default="0"),
)

parked = sa.Table(
    "mq_parked",
    metadata,
    sa.Column("consumer_group", _KEY, primary_key=True),
    sa.Column("topic", _KEY, primary_key=True),
    sa.Column("partition_key", _KEY, primary_key=True),
    sa.Column("message_id", _KEY, primary_key=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("parked_at_ms", sa.BigInteger, nullable=False),
)
