"""Fresh databases for tests: SQLite files in tmp_path, PostgreSQL databases created and dropped."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from sq.submitqueue.orchestrator.storage import schema as orchestrator_schema

PG_ENV = "SQ_TEST_POSTGRES_URL"


def postgres_server_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} must be set in CI: PostgreSQL tests may not be skipped there")
        pytest.skip(f"{PG_ENV} is not set, so the PostgreSQL variant is skipped")
    return url


@contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """Create a database with a unique name on the test server; drop it afterwards."""
    server = sa.make_url(postgres_server_url())
    name = f"sqtest_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(
        server.set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield server.set(drivername="postgresql+psycopg", database=name).render_as_string(
            hide_password=False
        )
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def schema_drift(path: str, schema: migrations.SchemaSet) -> list[object]:
    """What differs between `schema`'s tables as its migrations build them (twice, the second a
    no-op) in a fresh SQLite file at `path` and as its metadata declares them."""
    engine = create_engine(path)
    try:
        migrations.upgrade(engine, schema)
        migrations.upgrade(engine, schema)
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    finally:
        engine.dispose()
    return [d for d in diff if "alembic_version" not in str(d)]


@contextmanager
def orchestrator_storage(backend: str, tmp_path: Path) -> Iterator[OrchestratorStorage]:
    """A migrated orchestrator store on `backend` ("sqlite": a file in `tmp_path`;
    "postgresql": a fresh database, dropped after)."""
    with (
        nullcontext(f"sqlite:///{tmp_path / 'orchestrator.db'}")
        if backend == "sqlite"
        else fresh_postgres_database()
    ) as url:
        engine = create_engine(url)
        migrations.upgrade(engine, orchestrator_schema(), migrations.counter_schema())
        try:
            yield OrchestratorStorage(engine)
        finally:
            engine.dispose()


@contextmanager
def refused_postgres_url() -> Iterator[str]:
    """A PostgreSQL URL whose every connection is refused: its port is bound on loopback but
    never listens, so no other server can take it while the URL is in use."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"postgresql://postgres@127.0.0.1:{held.getsockname()[1]}/sq"
