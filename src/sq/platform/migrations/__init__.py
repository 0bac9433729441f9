"""Alembic migrations, applied at start under a lock.

Each *schema set* (the queue's tables, the counter, a service's own tables) is a folder of
revisions with a version table of its own, so one database can hold any combination of sets and
each service migrates only what it owns.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine

HERE = Path(__file__).parent


@dataclass(frozen=True, slots=True, kw_only=True)
class SchemaSet:
    name: str
    directory: Path
    metadata: sa.MetaData

    @property
    def version_table(self) -> str:
        return f"alembic_version_{self.name}"


def _config(schema: SchemaSet, connection: sa.Connection) -> Config:
    config = Config()
    config.set_main_option("path_separator", "os")
    config.set_main_option("script_location", str(HERE / "env"))
    config.set_main_option("version_locations", str(schema.directory))
    config.attributes["connection"] = connection
    config.attributes["schema_set"] = schema
    return config


def upgrade(engine: Engine, *schemas: SchemaSet) -> None:
    """Bring every schema set to its newest revision; concurrent callers wait for each other."""
    with engine.begin() as conn:  # SQLite: BEGIN IMMEDIATE already serializes writers
        if conn.dialect.name == "postgresql":
            key = zlib.crc32(b"sq-migrations")
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
        for schema in schemas:
            command.upgrade(_config(schema, conn), "head")


def queue_schema() -> SchemaSet:
    from sq.platform.messagequeue.sql.schema import metadata

    return SchemaSet(name="mq", directory=HERE / "mq", metadata=metadata)


def counter_schema() -> SchemaSet:
    from sq.platform.counter import metadata

    return SchemaSet(name="counter", directory=HERE / "counter", metadata=metadata)


def hooks_schema() -> SchemaSet:
    from sq.platform.hooks.sql import metadata

    return SchemaSet(name="hooks", directory=HERE / "hooks", metadata=metadata)
