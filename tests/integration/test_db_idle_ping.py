"""A pooled PostgreSQL connection that died while idle is replaced before use, not handed out."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sq.platform import db
from support.databases import fresh_postgres_database


@contextmanager
def pooled_connection_killed_while_idle() -> Iterator[tuple[Engine, int]]:
    """An engine whose one pooled connection's backend was terminated; and that backend's pid."""
    with fresh_postgres_database() as url:
        engine = db.create_engine(url)
        other = db.create_engine(url)
        try:
            with engine.connect() as conn:
                victim = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
            assert isinstance(victim, int)
            with other.connect() as conn:
                conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
                conn.commit()
            yield engine, victim
        finally:
            engine.dispose()
            other.dispose()


def test_a_connection_killed_while_idle_is_replaced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 0.0)
    with pooled_connection_killed_while_idle() as (engine, victim), engine.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_backend_pid()")).scalar() != victim


def test_a_connection_used_again_at_once_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    # Within the idle threshold there is no ping, so the killed connection is handed out as is
    # and the statement fails: the ping (and only it) is what replaced it above.
    monkeypatch.setattr(db, "PING_AFTER_IDLE_S", 3600.0)
    with (
        pooled_connection_killed_while_idle() as (engine, _),
        pytest.raises(sa.exc.OperationalError),
        engine.connect() as conn,
    ):
        conn.execute(sa.text("SELECT 1"))
