"""Wake-ups from other processes: PostgreSQL LISTEN/NOTIFY, or SQLite's `data_version`.

Polling by every partition worker stays as the backstop; these only make other processes' work
visible sooner. PostgreSQL notifications name the partition; SQLite only says "something
committed", so each change wakes every local reader (rate-limited by the check interval).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.engine import Engine

from sq.platform.messagequeue.sql.store import NOTIFY_CHANNEL, SqlQueueStore
from sq.platform.messagequeue.wakeup import Waker

log = structlog.get_logger("sq.mq")
Watcher = Callable[[Waker], Awaitable[None]]


def watcher_for(
    engine: Engine, *, sqlite_interval_s: float = 0.1, store: SqlQueueStore | None = None
) -> Watcher:
    """With `store` on a SQLite file, the check runs on the store's own connection on the loop,
    which sees other processes' commits but not this process's own publishes and cycles (those
    wake their readers in process): a lone process is not woken by its own work ten times a
    second, each wake-up a discovery in every subscription."""
    if engine.dialect.name == "postgresql":
        return lambda waker: _listen_postgres(engine, waker)
    if store is not None and store.transactions.inline:
        return lambda waker: _poll_sqlite_store(store, waker, sqlite_interval_s)
    return lambda waker: _poll_sqlite(engine, waker, sqlite_interval_s)


async def _listen_postgres(engine: Engine, waker: Waker) -> None:
    import psycopg

    conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                waker.notify_all()  # anything published while we were not listening
                async for note in conn.notifies():
                    topic, _, key = note.payload.partition("\n")
                    waker.notify(topic, key)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  the listener must outlive a database restart
            log.warning("notification listener lost; polling until it reconnects", error=str(exc))
            await asyncio.sleep(1.0)


async def _poll_sqlite(engine: Engine, waker: Waker, interval_s: float) -> None:
    path = engine.url.database
    if not path or path == ":memory:":
        return
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        last = conn.execute("PRAGMA data_version").fetchone()[0]
        waker.notify_all()  # anything committed before the first look
        while True:
            await asyncio.sleep(interval_s)
            version = conn.execute("PRAGMA data_version").fetchone()[0]
            if version != last:
                last = version
                waker.notify_all()
    finally:
        conn.close()


async def _poll_sqlite_store(store: SqlQueueStore, waker: Waker, interval_s: float) -> None:
    last = await store.call(store.data_version)
    waker.notify_all()  # anything committed before the first look
    while True:
        await asyncio.sleep(interval_s)
        try:
            version = await store.call(store.data_version)
        except Exception as exc:  # noqa: BLE001  a busy file: look again next time
            log.warning("data_version check failed", error=str(exc))
            continue
        if version != last:
            last = version
            waker.notify_all()
