"""Read-only transactions: on SQLite a read does not wait for a writer's lock; on both backends a
write inside one fails at once instead of taking the lock."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sq.platform import db
from support.databases import fresh_postgres_database


@contextmanager
def engine_with_one_row(backend: str, tmp_path: Path) -> Iterator[Engine]:
    with (
        nullcontext(str(tmp_path / "ro.db")) if backend == "sqlite" else fresh_postgres_database()
    ) as url:
        engine = db.create_engine(url)
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("CREATE TABLE item (x INTEGER)")
                conn.exec_driver_sql("INSERT INTO item VALUES (1)")
            yield engine
        finally:
            engine.dispose()


def test_a_sqlite_read_does_not_wait_for_a_held_write_lock(tmp_path: Path) -> None:
    with engine_with_one_row("sqlite", tmp_path) as engine:
        engine.dispose()  # so that the hook below runs on every connection the test uses

        @event.listens_for(engine, "connect")
        def _no_wait(dbapi_connection: sqlite3.Connection, _record: object) -> None:
            # A wait for the lock fails at once instead of after db's 30 s busy_timeout.
            dbapi_connection.execute("PRAGMA busy_timeout=0")

        writer = sqlite3.connect(tmp_path / "ro.db", isolation_level=None)
        try:
            writer.execute("BEGIN IMMEDIATE")
            writer.execute("INSERT INTO item VALUES (2)")
            with db.read_only(engine) as conn:
                seen = conn.execute(sa.text("SELECT count(*) FROM item")).scalar()
            with pytest.raises(sa.exc.OperationalError, match="locked"), engine.begin() as conn:
                conn.execute(sa.text("SELECT count(*) FROM item"))
        finally:
            writer.rollback()
            writer.close()
    assert seen == 1


def test_a_write_in_a_read_only_transaction_fails_on_sqlite(tmp_path: Path) -> None:
    """SQLite is where the tests catch a call that writes in `read_only` (on PostgreSQL such a
    connection autocommits, below)."""
    with engine_with_one_row("sqlite", tmp_path) as engine:
        with (
            pytest.raises(sa.exc.DBAPIError, match=r"read-?only"),
            db.read_only(engine) as conn,
        ):
            conn.execute(sa.text("INSERT INTO item VALUES (2)"))
        with engine.begin() as conn:  # the same pooled connection writes again afterwards
            conn.execute(sa.text("INSERT INTO item VALUES (3)"))
        with db.read_only(engine) as conn:
            assert conn.execute(sa.text("SELECT x FROM item ORDER BY x")).scalars().all() == [1, 3]


def test_a_connection_back_from_a_read_only_transaction_writes_on_the_bare_driver(
    tmp_path: Path,
) -> None:
    with engine_with_one_row("sqlite", tmp_path) as engine:
        with db.read_only(engine) as conn:
            conn.execute(sa.text("SELECT count(*) FROM item"))
        raw = engine.raw_connection()  # the pool's one connection, as the message queue uses it
        try:
            driver = raw.driver_connection
            assert isinstance(driver, sqlite3.Connection)
            driver.execute("BEGIN IMMEDIATE")
            driver.execute("INSERT INTO item VALUES (2)")
            driver.commit()
        finally:
            raw.close()


def test_a_postgresql_read_opens_no_transaction_and_leaves_the_connection_transactional(
    tmp_path: Path,
) -> None:
    """A read costs one round trip (no BEGIN, no ROLLBACK at the connection's return); the same
    pooled connection then writes in a real transaction, which a failure rolls back whole."""
    import psycopg.pq

    with engine_with_one_row("postgresql", tmp_path) as engine:
        with db.read_only(engine) as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM item")).scalar() == 1
            driver = conn.connection.driver_connection
            assert driver is not None
            assert driver.info.transaction_status is psycopg.pq.TransactionStatus.IDLE
        with pytest.raises(sa.exc.DBAPIError, match="division by zero"), engine.begin() as conn:  # noqa: PT012
            conn.execute(sa.text("INSERT INTO item VALUES (2)"))
            conn.execute(sa.text("SELECT 1 / 0"))  # fails half way
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO item VALUES (3)"))
        with db.read_only(engine) as conn:
            assert conn.execute(sa.text("SELECT x FROM item ORDER BY x")).scalars().all() == [1, 3]
