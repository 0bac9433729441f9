"""Every queue backend behind one contract: each test here runs on memory, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.messagequeue.store import QueueStore
from support.databases import fresh_postgres_database


def migrated(url: str) -> Engine:
    engine = create_engine(url)
    migrations.upgrade(engine, migrations.queue_schema(), migrations.counter_schema())
    return engine


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    return_value: str = request.param
    return return_value


@pytest.fixture
def engine(backend: str, tmp_path: Path) -> Iterator[Engine | None]:
    if backend == "memory":
        yield None
    elif backend == "sqlite":
        engine = migrated(str(tmp_path / "queue.db"))
        yield engine
        engine.dispose()
    else:
        with fresh_postgres_database() as url:
            engine = migrated(url)
            yield engine
            engine.dispose()


@pytest.fixture
def store(engine: Engine | None) -> QueueStore:
    return MemoryQueueStore() if engine is None else SqlQueueStore(engine)
