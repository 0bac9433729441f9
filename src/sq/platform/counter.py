"""Persistent id minting: `next(queue, domain)` gives 1, 2, 3 … per (queue, domain), never twice.

One statement on SQLite (≥ 3.35) and PostgreSQL: an upsert that returns the new value. Values are
unique under any concurrency, including several processes on one database.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sq.platform.db import read_only

metadata = sa.MetaData(naming_convention={"pk": "pk_%(table_name)s"})

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("queue", sa.String(255), primary_key=True),
    sa.Column("domain", sa.String(255), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)


class Counter:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    def next(self, queue: str, domain: str) -> int:
        with self.engine.begin() as conn:
            return self.take(conn, queue, domain, 1)

    def take(self, conn: Connection, queue: str, domain: str, count: int) -> int:
        """Hand out `count` consecutive values in the caller's transaction (none of them if it
        rolls back); returns the first."""
        if not domain or len(domain) > 255 or len(queue) > 255:
            raise ValueError("queue and domain must be 1-255 characters")
        if count < 1:
            raise ValueError("count must be at least 1")
        insert = self._insert(counters).values(queue=queue, domain=domain, value=count)
        stmt = insert.on_conflict_do_update(
            index_elements=[counters.c.queue, counters.c.domain],
            set_={"value": counters.c.value + count},
        ).returning(counters.c.value)
        return int(conn.execute(stmt).scalar_one()) - count + 1

    def peek(self, queue: str, domain: str) -> int:
        """The last value handed out (0 before the first)."""
        query = sa.select(counters.c.value).where(
            counters.c.queue == queue, counters.c.domain == domain
        )
        with read_only(self.engine) as conn:
            return int(conn.execute(query).scalar() or 0)
