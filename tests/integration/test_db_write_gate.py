"""SQLite writers of one process queue at a gate: a second writer does not begin (and so does not
sleep in SQLite's busy handler) until the first has committed, and every way a transaction ends
gives the gate back."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine

from sq.platform import db
from sq.platform.messagequeue.sql.transactions import Transactions


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = db.create_engine(str(tmp_path / "gate.db"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE item (x INTEGER)")
    yield engine
    engine.dispose()


@contextmanager
def no_busy_wait(conn: sa.Connection) -> Iterator[None]:
    """A wait for SQLite's lock fails at once instead of after db's 30 s busy_timeout (set on the
    driver: a statement through SQLAlchemy would begin a transaction, and take the lock)."""
    driver = conn.connection.driver_connection
    assert isinstance(driver, sqlite3.Connection)
    driver.execute("PRAGMA busy_timeout=0")
    try:
        yield
    finally:
        driver.execute("PRAGMA busy_timeout=30000")


def gate_of(engine: Engine) -> db._WriteGate:
    return db._gate_for(str(engine.url.database))


def test_a_second_writer_begins_only_after_the_first_commits(engine: Engine) -> None:
    order: list[str] = []
    engine.dispose()  # so that every connection the test uses gets the trace below

    @event.listens_for(engine, "connect")
    def _trace(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        def traced(statement: str) -> None:
            if statement.startswith("BEGIN IMMEDIATE"):
                order.append(f"{threading.current_thread().name} began")

        dbapi_connection.set_trace_callback(traced)

    second_waiting = threading.Event()

    def second() -> None:
        second_waiting.set()
        with engine.begin() as conn:
            conn.execute(sa.text("INSERT INTO item VALUES (2)"))

    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO item VALUES (1)"))
        thread = threading.Thread(target=second, name="second")
        thread.start()
        assert second_waiting.wait(5)
        # Without the gate the second thread's BEGIN has run by now and sleeps in SQLite's busy
        # handler for the lock; with it, the thread waits at the gate and has not begun at all.
        thread.join(0.2)
        assert thread.is_alive()
        order.append("first committing")
    thread.join(5)
    assert order == ["MainThread began", "first committing", "second began"]
    with db.read_only(engine) as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM item")).scalar() == 2


def test_every_end_of_a_transaction_gives_the_gate_back(engine: Engine, tmp_path: Path) -> None:
    gate = gate_of(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO item VALUES (1)"))
        assert gate._lock.locked()
    assert not gate._lock.locked()  # commit

    with engine.connect() as conn:
        conn.execute(sa.text("INSERT INTO item VALUES (2)"))
        conn.rollback()
    assert not gate._lock.locked()  # rollback

    conn = engine.connect()
    conn.execute(sa.text("INSERT INTO item VALUES (3)"))  # autobegins
    assert gate._lock.locked()
    conn.close()  # returned to the pool with the transaction open: the pool rolls it back
    assert not gate._lock.locked()

    outsider = sqlite3.connect(tmp_path / "gate.db", isolation_level=None)
    try:
        outsider.execute("BEGIN IMMEDIATE")  # another process's writer, in effect
        with (
            engine.connect() as conn,
            no_busy_wait(conn),
            pytest.raises(sa.exc.OperationalError, match="locked"),
        ):
            conn.execute(sa.text("INSERT INTO item VALUES (4)"))
        assert not gate._lock.locked()  # a BEGIN that failed
    finally:
        outsider.rollback()
        outsider.close()

    with engine.begin() as conn:
        rows = conn.execute(sa.text("SELECT x FROM item ORDER BY x")).scalars().all()
    assert rows == [1]  # 2 and 3 were rolled back


def test_the_message_queue_transactions_on_a_thread_take_the_gate(engine: Engine) -> None:
    transactions = Transactions(engine, frozenset())
    gate = gate_of(engine)
    try:
        with transactions.begin() as tx:
            assert gate._lock.locked()
            tx.execute_text("INSERT INTO item VALUES (5)")
        assert not gate._lock.locked()
        with contextlib.suppress(KeyError), transactions.begin() as tx:
            tx.execute_text("INSERT INTO item VALUES (6)")
            raise KeyError("rolled back")
        assert not gate._lock.locked()
    finally:
        transactions.close()
    with db.read_only(engine) as conn:
        assert conn.execute(sa.text("SELECT x FROM item")).scalars().all() == [5]


def test_a_thread_already_at_the_gate_opening_a_second_write_is_not_held_by_itself(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO item VALUES (7)"))
        # A second connection of the same thread: SQLite's lock answers (busy), not a wait at
        # the gate that this thread itself holds.
        with (
            engine.connect() as other,
            no_busy_wait(other),
            pytest.raises(sa.exc.OperationalError, match="locked"),
        ):
            other.execute(sa.text("INSERT INTO item VALUES (8)"))
        assert gate_of(engine)._lock.locked()
    assert not gate_of(engine)._lock.locked()
