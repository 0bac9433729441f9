"""The queue's migrations: they build exactly the declared schema and keep what was stored."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql.store import SqlQueueStore
from support.databases import schema_drift


def test_the_migrations_create_exactly_the_declared_tables(tmp_path: Path) -> None:
    assert schema_drift(str(tmp_path / "queue.db"), migrations.queue_schema()) == []


def test_the_claimed_range_starts_empty_on_an_existing_offset(tmp_path: Path) -> None:
    engine = create_engine(str(tmp_path / "queue.db"))
    schema = migrations.queue_schema()
    with engine.begin() as conn:
        command.upgrade(migrations._config(schema, conn), "0001_mq")
        conn.execute(
            sa.text(
                "INSERT INTO mq_offsets (consumer_group, topic, partition_key, acked_seq) "
                "VALUES ('g', 't', 'p', 7)"
            )
        )
    migrations.upgrade(engine, schema)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT acked_seq, claimed_seq, claimed_until_ms FROM mq_offsets")
        ).one()
    engine.dispose()
    assert tuple(row) == (7, 0, 0)


def test_rebuilding_the_message_table_keeps_every_message_and_its_dedup(tmp_path: Path) -> None:
    engine = create_engine(str(tmp_path / "queue.db"))
    schema = migrations.queue_schema()
    with engine.begin() as conn:
        command.upgrade(migrations._config(schema, conn), "0002_mq")
        for seq in (1, 2):
            conn.execute(
                sa.text(
                    "INSERT INTO mq_messages (topic, partition_key, seq, message_id, payload, "
                    "created_at_ms, published_at_ms) VALUES ('t', 'p', :seq, :id, '{}', 1, 1)"
                ),
                {"seq": seq, "id": f"m{seq}"},
            )
        conn.execute(sa.text("INSERT INTO mq_partitions VALUES ('t', 'p', 2)"))
    migrations.upgrade(engine, schema)
    store = SqlQueueStore(engine)
    again = OutgoingMessage(topic="t", partition_key="p", message_id="m2", payload="{}")
    fresh = OutgoingMessage(topic="t", partition_key="p", message_id="m3", payload="{}")
    assert store.publish([again, fresh], 5) == [False, True]
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, message_id FROM mq_messages ORDER BY seq")).all()
        indexes = {row[1] for row in conn.execute(sa.text("PRAGMA index_list(mq_messages)"))}
    store.close()
    engine.dispose()
    assert [tuple(row) for row in rows] == [(1, "m1"), (2, "m2"), (3, "m3")]
    assert len(indexes) == 2, indexes  # the key's and the dedup key's, nothing left over


def test_partitions_from_before_settling_start_unsettled_and_settle_once_empty(
    tmp_path: Path,
) -> None:
    engine = create_engine(str(tmp_path / "queue.db"))
    schema = migrations.queue_schema()
    with engine.begin() as conn:
        command.upgrade(migrations._config(schema, conn), "0003_mq")
        # 'done' was read to the end and collected; 'busy' still holds a message.
        conn.execute(sa.text("INSERT INTO mq_partitions VALUES ('t', 'done', 4), ('t', 'busy', 1)"))
        conn.execute(
            sa.text(
                "INSERT INTO mq_messages (topic, partition_key, seq, message_id, payload, "
                "created_at_ms, published_at_ms) VALUES ('t', 'busy', 1, 'm', '{}', 1, 1)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO mq_offsets (consumer_group, topic, partition_key, acked_seq) "
                "VALUES ('g', 't', 'done', 4)"
            )
        )
    migrations.upgrade(engine, schema)
    store = SqlQueueStore(engine)
    assert store.discover("late", "t") == ["busy", "done"]
    store.gc_topic("t", created_before_ms=0)
    assert store.discover("late", "t") == ["busy"]
    with engine.connect() as conn:
        settled = dict(
            conn.execute(sa.text("SELECT partition_key, settled_seq FROM mq_partitions")).all()
        )
    store.close()
    engine.dispose()
    assert settled == {"done": 4, "busy": 0}
