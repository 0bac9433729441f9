"""The queue's migrations: they build exactly the declared schema, and 0002 keeps what 0001 held."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue.sql.schema import metadata


def test_the_migrations_create_exactly_the_declared_tables(tmp_path: Path) -> None:
    engine = create_engine(str(tmp_path / "queue.db"))
    migrations.upgrade(engine, migrations.queue_schema())
    migrations.upgrade(engine, migrations.queue_schema())
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert [d for d in diff if "alembic_version" not in str(d)] == []


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
