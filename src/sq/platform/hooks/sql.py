"""The HookStore in the host's own database (SQLite or PostgreSQL), one transaction per call."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.platform.hooks.store import UndeliverableEvent

metadata = sa.MetaData(
    naming_convention={"pk": "pk_%(table_name)s", "ix": "ix_%(table_name)s_%(column_0_N_name)s"}
)

delivered = sa.Table(
    "hook_delivered",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("delivered_at_ms", sa.BigInteger, nullable=False, index=True),
)

undeliverable = sa.Table(
    "hook_undeliverable",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("source", sa.String(255), nullable=False),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("event", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("failed_at_ms", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("message_id", sa.String(255), nullable=False),
    sa.Column("recorded_at_ms", sa.BigInteger, nullable=False, index=True),
)

_COLUMNS = tuple(c.name for c in undeliverable.columns)


class SqlHookStore:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert: Any = (
            postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        )

    def is_delivered(self, event_id: str) -> bool:
        query = sa.select(delivered.c.event_id).where(delivered.c.event_id == event_id)
        with read_only(self.engine) as conn:
            return conn.execute(query).first() is not None

    def mark_delivered(self, event_id: str, at_ms: int) -> None:
        statement = self._insert(delivered).values(event_id=event_id, delivered_at_ms=at_ms)
        with self.engine.begin() as conn:
            conn.execute(statement.on_conflict_do_nothing(index_elements=["event_id"]))

    def prune_delivered(self, before_ms: int) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(delivered.delete().where(delivered.c.delivered_at_ms < before_ms))
            return int(result.rowcount or 0)

    def record_undeliverable(self, record: UndeliverableEvent) -> None:
        values = record.to_dict()
        statement = self._insert(undeliverable).values(**values)
        statement = statement.on_conflict_do_update(
            index_elements=["event_id"],
            set_={k: statement.excluded[k] for k in _COLUMNS if k != "event_id"},
        )
        with self.engine.begin() as conn:
            conn.execute(statement)

    def undeliverable(
        self, source: str | None = None, limit: int = 500
    ) -> list[UndeliverableEvent]:
        query = sa.select(undeliverable).order_by(
            undeliverable.c.recorded_at_ms.desc(), undeliverable.c.event_id.desc()
        )
        if source is not None:
            query = query.where(undeliverable.c.source == source)
        with read_only(self.engine) as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return [UndeliverableEvent(**dict(row)) for row in rows]

    def get_undeliverable(self, event_id: str) -> UndeliverableEvent | None:
        query = sa.select(undeliverable).where(undeliverable.c.event_id == event_id)
        with read_only(self.engine) as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else UndeliverableEvent(**dict(row))

    def remove_undeliverable(self, event_id: str, recorded_at_ms: int) -> bool:
        statement = undeliverable.delete().where(
            undeliverable.c.event_id == event_id,
            undeliverable.c.recorded_at_ms == recorded_at_ms,
        )
        with self.engine.begin() as conn:
            return bool(conn.execute(statement).rowcount)
