"""Fixtures shared by the scenario tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from support.databases import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def gateway_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    """Where a `gateway_world` keeps its tables: a directory for SQLite, or a fresh PostgreSQL
    database (skipped, with the reason, when SQ_TEST_POSTGRES_URL is unset)."""
    if request.param == "sqlite":
        yield tmp_path
        return
    with fresh_postgres_database() as url:
        yield url
