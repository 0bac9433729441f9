"""The consumer gate in the queue's database, read as one of the queue's own calls."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from sq.platform import migrations
from sq.platform.consumer.gate import GateState, SqlGate, read_gate
from sq.platform.db import create_engine
from sq.platform.messagequeue.sql.store import SqlQueueStore
from support.databases import fresh_postgres_database

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


async def test_a_gate_closed_by_the_cli_is_seen_by_the_queues_own_read(engine: Engine) -> None:
    store = SqlQueueStore(engine)
    gate = SqlGate(engine, store)
    cli = SqlGate(engine)  # `sq mq gate` in another process: no store of its own
    assert not await read_gate(gate, "build", "head-1")

    cli.close(GateState(consumer_group="build", partition_key="head-1"))
    assert await read_gate(gate, "build", "head-1")
    assert not await read_gate(gate, "build", "head-2")
    assert not await read_gate(gate, "merge", "head-1")

    cli.close(GateState(consumer_group="merge", partition_key=""))
    assert await read_gate(gate, "merge", "anything")

    assert cli.open("build", "head-1")
    assert not await read_gate(gate, "build", "head-1")
    store.close()
