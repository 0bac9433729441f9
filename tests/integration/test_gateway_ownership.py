"""Ownership at the storage level: with every service in one process, every statement that writes
the gateway's database comes from gateway code (or the platform's migrations and counter it calls),
and no other service's database holds a gateway table."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
import sqlalchemy as sa

from sq.service.settings import Settings
from sq.service.stack import LocalStack
from sq.submitqueue.client.http import GatewayClient

pytestmark = pytest.mark.anyio

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
ALLOWED = ("sq.submitqueue.gateway", "sq.platform.migrations", "sq.platform.counter")


def writer_module() -> str:
    """The innermost `sq.` module on the stack that is not the database plumbing itself."""
    frame = sys._getframe(1)
    while frame is not None:
        module = str(frame.f_globals.get("__name__", ""))
        if module.startswith("sq.") and module not in ("sq.platform.db",):
            return module
        frame = frame.f_back  # type: ignore[assignment]
    return "<outside sq>"


def tables_of(path: Path) -> set[str]:
    engine = sa.create_engine(f"sqlite:///{path}")
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


async def test_only_gateway_code_writes_the_gateway_database(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", port=0)
    stack = LocalStack(settings, ["gateway", "orchestrator", "runway"], "127.0.0.1", 0)
    gateway_engine = stack.runtime.engine_for("gateway")
    writers: set[str] = set()

    @sa.event.listens_for(gateway_engine, "before_cursor_execute")
    def _seen(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith(WRITES):
            writers.add(writer_module())

    await stack.group.start()
    try:
        async with GatewayClient(stack.address) as client:
            ids = [
                (await client.land("demo", [uri], None))["id"]
                for uri in ("fake://demo/ok?sq-files=a", "fake://demo/bad?sq-fake=build-fail")
            ]
            await client.cancel((await client.land("demo", ["fake://demo/c"], None))["id"], "x")
            deadline = time.monotonic() + 60
            while True:
                statuses = [(await client.status(i))["status"] for i in ids]
                if all(st in ("landed", "error") for st in statuses):
                    break
                assert time.monotonic() < deadline, statuses
                await anyio.sleep(0.1)
    finally:
        await stack.group.stop()
        await stack.close()

    assert writers, "the listener saw no write at all"
    strangers = sorted(w for w in writers if not w.startswith(ALLOWED))
    assert strangers == [], f"modules outside the gateway wrote its database: {strangers}"
    gateway_tables = set(
        sa.inspect(
            sa.create_engine(f"sqlite:///{tmp_path / 'data' / 'gateway.db'}")
        ).get_table_names()
    )
    for other in ("orchestrator.db", "queue.db"):
        tables = set(
            sa.inspect(sa.create_engine(f"sqlite:///{tmp_path / 'data' / other}")).get_table_names()
        )
        shared = (gateway_tables & tables) - {"counters"}
        assert not {t for t in shared if not t.startswith("alembic_version")}, (other, shared)
