"""Transactions for the queue's hot path, and where the store's calls run.

On PostgreSQL every call goes to a worker thread.

On a SQLite file the queue's calls are short: a publish or a partition cycle is a few statements
that never wait for a disk (WAL with synchronous=NORMAL does not sync on commit), about 30-100 µs,
against 200 µs and more for handing a call to a thread and back. So they run on the event loop
itself, on a connection of the loop's own with two settings:

- `busy_timeout=0`: when another connection holds the write lock, BEGIN IMMEDIATE fails at once,
  before the call has done anything, and the call sleeps on the loop and tries again (as SQLite's
  busy handler would in a thread), for up to `BUSY_TIMEOUT_S`;
- `wal_autocheckpoint=0`: no commit on the loop copies the WAL into the database file (that
  writes and syncs); a PASSIVE checkpoint runs on a thread every `CHECKPOINT_EVERY` commits.

Calls from one process's loop never contend with each other, so the lock is only ever waited for
when another process (or a thread of this one) writes the same file. The calls that run here are
named by the store (`ownership.INLINE_CALLS`); the rest, and every call on PostgreSQL or on an
in-memory database, go to a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from sq.platform.db import GatedConnection
from sq.platform.messagequeue.sql.dbapi import Tx

P = ParamSpec("P")
T = TypeVar("T")

CHECKPOINT_EVERY = 1000
"""Commits on the loop between two checkpoints (SQLite's own default is 1000 WAL pages)."""


FIRST_WAIT_S = 0.0002
MAX_WAIT_S = 0.005
BUSY_TIMEOUT_S = 30.0
"""How long a call on the loop waits for the write lock: the pool connections' busy_timeout."""


class _LockBusyError(Exception):
    """The loop's connection could not take SQLite's write lock without waiting."""

    def __init__(self, locked: Exception) -> None:
        super().__init__(str(locked))
        self.locked = locked


class Transactions:
    def __init__(self, engine: Engine, inline_calls: frozenset[str]) -> None:
        self.engine = engine
        self.postgres = engine.dialect.name == "postgresql"
        database = engine.url.database or ""
        in_memory = database in ("", ":memory:") or "mode=memory" in str(engine.url)
        self.inline = not self.postgres and not in_memory
        """Whether the loop runs the short calls itself (a SQLite file)."""
        self._inline_calls = inline_calls if self.inline else frozenset()
        self._local = threading.local()
        self._inline: dict[int, sqlite3.Connection] = {}
        self._inline_engines: dict[int, Engine] = {}
        self.commits = 0
        """Calls that ran (and committed) on the loop."""
        self._checkpointing: asyncio.Task[None] | None = None
        self._finalizer = weakref.finalize(self, _close_all, self._inline_engines, self._inline)

    # --- running a storage call ------------------------------------------------------------------

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a storage call: a short one on the loop, waiting there while the lock is taken."""
        if getattr(fn, "__name__", "") not in self._inline_calls:
            return await asyncio.to_thread(fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        give_up = loop.time() + BUSY_TIMEOUT_S
        delay = FIRST_WAIT_S
        while True:
            self._local.inline = True
            try:
                result = fn(*args, **kwargs)
            except _LockBusyError as busy:
                if loop.time() >= give_up:
                    raise busy.locked from None
            else:
                self._after_inline_commit()
                return result
            finally:
                self._local.inline = False
            # Another connection holds the write lock, usually for well under a millisecond. A
            # thread would wait for it the same way (SQLite's busy handler sleeps and retries).
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_WAIT_S)

    def _after_inline_commit(self) -> None:
        self.commits += 1
        if self.commits % CHECKPOINT_EVERY == 0 and (
            self._checkpointing is None or self._checkpointing.done()
        ):
            self._checkpointing = asyncio.get_running_loop().create_task(
                asyncio.to_thread(self._checkpoint)
            )

    def _checkpoint(self) -> None:
        # On the bare driver: through SQLAlchemy it would begin a transaction and take the write
        # lock, which a PASSIVE checkpoint does not need.
        raw = self.engine.raw_connection()
        try:
            with contextlib.suppress(sqlite3.Error):
                raw.driver_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # type: ignore[union-attr]
        finally:
            raw.close()

    # --- transactions ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def begin(self) -> Iterator[Tx]:
        """A transaction on the bare driver; commits when the block ends, rolls back on error."""
        if getattr(self._local, "inline", False):
            with self._begin_inline() as tx:
                yield tx
            return
        raw = self.engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            assert dbapi is not None
            if isinstance(dbapi, GatedConnection):
                dbapi.begin_immediate()
            elif not self.postgres:
                dbapi.execute("BEGIN IMMEDIATE")
            with _committed(dbapi, postgres=self.postgres) as tx:
                yield tx
        except BaseException:
            if self.postgres and (raw.driver_connection is None or raw.driver_connection.broken):
                raw.invalidate()
            raise
        finally:
            raw.close()

    @contextlib.contextmanager
    def _begin_inline(self) -> Iterator[Tx]:
        dbapi = self._inline_connection()
        try:
            dbapi.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _LockBusyError(exc) from exc
        with _committed(dbapi, postgres=False) as tx:
            yield tx

    def connection_here(self) -> sqlite3.Connection:
        """The SQLite connection a call running here uses: the loop's own on the loop."""
        if getattr(self._local, "inline", False):
            return self._inline_connection()
        raise RuntimeError("connection_here is for calls that run on the loop")

    def engine_here(self) -> Engine:
        """The engine for SQLAlchemy code: on the loop, one over the loop's own connection."""
        if not getattr(self._local, "inline", False):
            return self.engine
        thread = threading.get_ident()
        engine = self._inline_engines.get(thread)
        if engine is None:
            connection = self._inline_connection()
            engine = sa.create_engine("sqlite://", creator=lambda: connection, poolclass=StaticPool)

            @event.listens_for(engine, "begin")
            def _begin(conn: sa.Connection) -> None:
                try:
                    conn.exec_driver_sql("BEGIN IMMEDIATE")
                except sa.exc.OperationalError as exc:
                    raise _LockBusyError(exc) from exc

            self._inline_engines[thread] = engine
        return engine

    def _inline_connection(self) -> sqlite3.Connection:
        thread = threading.get_ident()
        connection = self._inline.get(thread)
        if connection is None:
            raw = self.engine.raw_connection()
            connection = raw.driver_connection
            raw.detach()  # ours until close(): the pool neither hands it out nor resets it
            assert isinstance(connection, sqlite3.Connection)
            connection.execute("PRAGMA busy_timeout=0")
            connection.execute("PRAGMA wal_autocheckpoint=0")
            self._inline[thread] = connection
        return connection

    @contextlib.contextmanager
    def inside(self, conn: sa.Connection) -> Iterator[Tx]:
        """The caller's open SQLAlchemy transaction, on its driver cursor."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            yield Tx(cursor, postgres=self.postgres)
        finally:
            cursor.close()

    def close(self) -> None:
        self._finalizer()


@contextlib.contextmanager
def _committed(dbapi: Any, *, postgres: bool) -> Iterator[Tx]:
    cursor = dbapi.cursor()
    try:
        yield Tx(cursor, postgres=postgres)
        cursor.close()
        dbapi.commit()
    except BaseException:
        cursor.close()
        with contextlib.suppress(Exception):
            dbapi.rollback()
        raise


def _close_all(engines: dict[int, Engine], connections: dict[int, sqlite3.Connection]) -> None:
    for engine in engines.values():
        engine.dispose()
    engines.clear()
    for connection in connections.values():
        with contextlib.suppress(Exception):
            connection.close()
    connections.clear()
