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


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_write_in_a_read_only_transaction_fails(backend: str, tmp_path: Path) -> None:
    with engine_with_one_row(backend, tmp_path) as engine:
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
