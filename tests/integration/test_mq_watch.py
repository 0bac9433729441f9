"""Another process's publish wakes a subscriber at once (NOTIFY, SQLite data_version)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.messagequeue.sql.watch import watcher_for
from support.databases import fresh_postgres_database
from support.mq import Inbox, config

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", "postgres"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine(str(tmp_path / "q.db"))
        migrations.upgrade(engine, migrations.queue_schema())
        yield engine
        engine.dispose()
    else:
        with fresh_postgres_database() as url:
            engine = create_engine(url)
            migrations.upgrade(engine, migrations.queue_schema())
            yield engine
            engine.dispose()


async def test_a_publish_elsewhere_wakes_a_slow_polling_subscriber(engine: Engine) -> None:
    # Polling every hour: only the watcher can deliver the message in time.
    slow = {"poll_interval_ms": 3_600_000, "discovery_interval_ms": 3_600_000}
    reader = MessageQueue(
        SqlQueueStore(engine), watcher=watcher_for(engine, sqlite_interval_s=0.02)
    )
    inbox = Inbox(auto_ack=True)
    await reader.subscribe("t", config("g", **slow), inbox)
    other_process = MessageQueue(SqlQueueStore(engine))  # its waker is not the reader's
    await other_process.publish("t", "p", "m1", {})
    assert (await inbox.next()).message_id == "m1"
    await other_process.publish("t", "p", "m2", {})
    assert (await inbox.next()).message_id == "m2"
    await reader.close()
