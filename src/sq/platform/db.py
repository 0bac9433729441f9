"""Database engines for SQLite (embedded default) and PostgreSQL (scale-out).

Storage code is plain synchronous SQLAlchemy Core, one transaction per function, called from
asyncio through a thread (python-stack.md §2.2).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool


class DatabaseURLError(ValueError):
    """A database URL that cannot be used, with a one-line reason."""


def normalize_url(url: str) -> sa.URL:
    """Parse a URL; `postgresql://` means psycopg 3, a bare path means a SQLite file."""
    if "://" not in url:
        url = f"sqlite:///{Path(url).expanduser()}"
    try:
        parsed = sa.make_url(url)
        parsed.port  # noqa: B018 -- parsed lazily: `host:abc` fails only when read
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise DatabaseURLError(f"not a database URL: {url!r}") from exc
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        if parsed.drivername in ("postgresql", "postgres"):
            parsed = parsed.set(drivername="postgresql+psycopg")
        elif parsed.drivername != "postgresql+psycopg":
            raise DatabaseURLError(
                f"unsupported PostgreSQL driver {parsed.drivername!r}; use psycopg"
            )
    elif backend != "sqlite":
        raise DatabaseURLError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return parsed


def create_engine(url: str | sa.URL, *, synchronous: str = "NORMAL") -> Engine:
    """An engine with our settings: SQLite in WAL with BEGIN IMMEDIATE; PostgreSQL pinging
    connections that were idle."""
    parsed = normalize_url(url) if isinstance(url, str) else url
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, synchronous)
    engine = sa.create_engine(parsed, pool_size=8, max_overflow=8)
    _ping_after_idle(engine)
    return engine


PING_AFTER_IDLE_S = 1.0


def _ping_after_idle(engine: Engine) -> None:
    """Check a pooled connection before use, but only when it sat idle for a second or more.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: a round trip per transaction, a quarter
    of a short transaction's time under load (doc/benchmarks.md). Connections die while idle (a
    server restart, an idle timeout), so only those are checked; a connection that breaks in use
    fails that transaction, which callers retry as a transient error, and the pool drops it.
    """

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info["sq_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("sq_idle_since")
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_S:
            return
        try:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            dbapi_connection.rollback()
        except Exception as exc:
            # The pool discards this connection and checks out another (up to three times).
            raise sa.exc.DisconnectionError(f"idle connection is gone: {exc}") from exc


def _sqlite_engine(url: sa.URL, synchronous: str) -> Engine:
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in str(url)
    if not in_memory:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args: dict[str, Any] = {"check_same_thread": False, "timeout": 30}
    if in_memory:
        kwargs: dict[str, Any] = {"connect_args": connect_args, "poolclass": StaticPool}
    else:
        connect_args["factory"] = GatedConnection
        kwargs = {"connect_args": connect_args}
    engine = sa.create_engine(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        # Autocommit at the driver so that SQLAlchemy's "begin" below decides how a transaction
        # starts: IMMEDIATE takes the write lock up front, so a read-then-write transaction never
        # fails with SQLITE_BUSY_SNAPSHOT, which busy_timeout cannot wait out.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if not in_memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA journal_size_limit=67108864")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        read_only = bool(connection.get_execution_options().get(READ_ONLY_OPTION))
        _set_query_only(connection, read_only)
        if read_only:
            connection.exec_driver_sql("BEGIN")
            return
        driver = connection.connection.driver_connection
        if isinstance(driver, GatedConnection):
            driver.begin_immediate(connection.exec_driver_sql)
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @event.listens_for(engine, "checkin")
    def _on_checkin(dbapi_connection: sqlite3.Connection | None, record: Any) -> None:
        # Back in the pool writable: code on the bare driver (the message queue's transactions)
        # begins without the hook above, so no connection may leave a read-only one query_only.
        if dbapi_connection is not None and record.info.get(READ_ONLY_OPTION, False):
            dbapi_connection.execute("PRAGMA query_only=0")
            record.info[READ_ONLY_OPTION] = False

    return engine


GATE_TIMEOUT_S = 30.0
"""How long a writer waits at its process's gate before it goes on to SQLite's own busy handler
(which then waits the connection's busy_timeout as before): a gate never hangs a writer for ever."""


class _WriteGate:
    """The writers of one SQLite file in this process, queued on a lock.

    SQLite lets one connection write at a time. A connection that finds the write lock taken
    waits in SQLite's busy handler, which sleeps and retries on a fixed schedule (1, 2, 5, 10, 15,
    20, 25 ms, ...): with several threads writing, each write waited 14-17 ms for a lock that is
    held well under a millisecond at a time (the eighth session's profiles, doc/benchmarks.md),
    and the file sat unlocked between a commit and the next waiter's wake-up. Here a thread takes
    the process's gate before `BEGIN IMMEDIATE` and gives it back after its `COMMIT` or
    `ROLLBACK`, so the next writer of this process is woken by the release itself. Other
    processes, and the message queue's calls on the event loop (which never block:
    `busy_timeout=0` and a retry on the loop), still meet at SQLite's lock as before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def enter(self) -> bool:
        """Wait for the gate; False when this thread holds it already (a second connection of
        the same thread: SQLite's lock decides, as without a gate) or the wait timed out."""
        me = threading.get_ident()
        if self._owner == me or not self._lock.acquire(timeout=GATE_TIMEOUT_S):
            return False
        self._owner = me
        return True

    def leave(self) -> None:
        self._owner = None
        self._lock.release()


_gates: dict[str, _WriteGate] = {}
_gates_lock = threading.Lock()


def _gate_for(database: str) -> _WriteGate:
    key = os.path.realpath(database)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = _WriteGate()
        return gate


class GatedConnection(sqlite3.Connection):
    """A SQLite connection whose `begin_immediate` queues on its file's `_WriteGate`; its
    commit, rollback and close give the gate back."""

    def __init__(self, database: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(database, *args, **kwargs)
        self._gate = _gate_for(database)
        self._holds_gate = False

    def begin_immediate(self, execute: Callable[[str], object] | None = None) -> None:
        """`BEGIN IMMEDIATE`, after this process's other writers of the file; `execute` runs it
        (SQLAlchemy's, so that a failure is raised as SQLAlchemy's error), else the driver."""
        self._holds_gate = self._gate.enter()
        try:
            (execute or self.execute)("BEGIN IMMEDIATE")
        except BaseException:
            self._leave_gate()
            raise

    def _leave_gate(self) -> None:
        if self._holds_gate:
            self._holds_gate = False
            self._gate.leave()

    def commit(self) -> None:
        super().commit()  # when it fails the transaction is still open: its rollback leaves
        self._leave_gate()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._leave_gate()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._leave_gate()


READ_ONLY_OPTION = "sq_read_only"
"""The execution option `read_only` sets: the SQLite engine's "begin" hook reads it."""


def _set_query_only(connection: sa.Connection, read_only: bool) -> None:
    """`PRAGMA query_only` follows the transaction's kind, set only when it changes (a
    connection may run several transactions before it goes back to the pool, which resets it).
    On the driver: a flag on the connection, not a statement of the transaction's."""
    fairy = connection.connection
    if fairy.info.get(READ_ONLY_OPTION, False) != read_only:
        driver = fairy.driver_connection
        assert isinstance(driver, sqlite3.Connection)
        driver.execute(f"PRAGMA query_only={int(read_only)}")
        fairy.info[READ_ONLY_OPTION] = read_only


@contextlib.contextmanager
def read_only(engine: Engine) -> Iterator[sa.Connection]:
    """A connection whose transactions only read.

    On SQLite every other transaction begins IMMEDIATE, taking the write lock up front (see
    `_sqlite_engine`), so a read waited behind every writer. A read-only one begins DEFERRED: in
    WAL a reader neither takes nor waits for the write lock, and since it never writes it cannot
    hit SQLITE_BUSY_SNAPSHOT. `PRAGMA query_only` makes a write in it fail at once ("attempt to
    write a readonly database") rather than try to upgrade the lock. On PostgreSQL the
    transaction is `READ ONLY` (psycopg puts it in its BEGIN: no extra round trip), so a write
    there fails too. Use it only for calls that never write; a read-then-write call keeps
    `engine.begin()`.

    On PostgreSQL it also autocommits: each statement is its own transaction. That is what the
    default READ COMMITTED gives a read inside one transaction anyway (every statement reads its
    own snapshot), without psycopg's BEGIN and the ROLLBACK at the connection's return, each a
    round trip of its own: a one-statement read costs one round trip, not three. A call that
    needs one snapshot for several statements asks for it (`REPEATABLE READ`, which replaces
    this option, as the speculate read does); writes are then refused by nobody but the code
    review and SQLite's `query_only` in the tests.
    """
    with engine.connect() as conn:
        options: dict[str, Any] = {READ_ONLY_OPTION: True}
        if conn.dialect.name == "postgresql":
            options["postgresql_readonly"] = True
            options["isolation_level"] = "AUTOCOMMIT"
        conn.execution_options(**options)
        yield conn


def check_connection(engine: Engine) -> None:
    """Connect once, turning a failure into a one-line DatabaseURLError."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError as exc:
        reason = str(exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc).strip()
        first = reason.splitlines()[0] if reason else type(exc).__name__
        raise DatabaseURLError(
            f"cannot connect to {engine.url.render_as_string()}: {first}"
        ) from exc
