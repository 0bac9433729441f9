"""A route that fails because a dependency is down for now answers 503 with `Retry-After`, and
the log gets a line per burst; a genuine bug (bad SQL) still answers 500."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx2
import pytest
import sqlalchemy as sa
from fastapi import APIRouter

from sq.platform import errs
from sq.platform.db import create_engine
from sq.service.access import Access
from sq.service.http import build_app
from sq.service.http_unavailable import BurstLog
from support.databases import refused_postgres_url

pytestmark = pytest.mark.anyio


def app_failing_with(fail: Callable[[], object]) -> httpx2.AsyncClient:
    """An app whose one route, GET /work, calls `fail`, behind every service's layers."""
    router = APIRouter()

    @router.get("/work")
    def work() -> dict[str, str]:
        fail()
        return {"status": "done"}

    app = build_app([router], ready=lambda: True, access=Access())
    transport = httpx2.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx2.AsyncClient(transport=transport, base_url="http://sq")


async def answer(fail: Callable[[], object]) -> httpx2.Response:
    async with app_failing_with(fail) as client:
        return await client.get("/work")


def query(engine: sa.Engine, sql: str) -> Callable[[], object]:
    def run() -> object:
        with engine.connect() as conn:
            return conn.execute(sa.text(sql)).all()

    return run


@pytest.fixture
async def refused() -> AsyncIterator[sa.Engine]:
    with refused_postgres_url() as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


async def test_a_database_that_refuses_connections_answers_503_with_retry_after(
    refused: sa.Engine,
) -> None:
    response = await answer(query(refused, "SELECT 1"))
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "unavailable"
    assert response.headers["Retry-After"] == str(errs.RETRY_AFTER_S)


async def test_sqlite_locked_past_its_busy_timeout_answers_503(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sa.create_engine(f"sqlite:///{path}")
    waiter = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with holder.connect() as held:
        held.exec_driver_sql("BEGIN EXCLUSIVE")

        def write() -> None:
            with waiter.connect() as conn:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        response = await answer(write)
        held.exec_driver_sql("ROLLBACK")
    holder.dispose()
    waiter.dispose()
    assert response.status_code == 503
    assert "Retry-After" in response.headers


async def test_bad_sql_is_a_bug_and_answers_500(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'db.sqlite'}")
    response = await answer(query(engine, "SELECT * FROM no_such_table"))
    engine.dispose()
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal"
    assert "Retry-After" not in response.headers


async def test_a_dependency_hint_sets_retry_after() -> None:
    def rate_limited() -> None:
        error = errs.RetryableDependencyError("rate limited")
        error.retry_after_s = 42.5  # type: ignore[attr-defined]
        raise error

    response = await answer(rate_limited)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "43"


def test_a_burst_of_failures_is_logged_once_per_interval() -> None:
    now = [100.0]
    burst = BurstLog(every_s=60.0, clock=lambda: now[0])
    error = ConnectionRefusedError("refused")
    logged = []
    for at in (100.0, 101.0, 159.0, 160.0, 161.0):
        now[0] = at
        logged.append(burst.note(error))
    assert logged == [True, False, False, True, False]
