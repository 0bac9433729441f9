"""Who reads which partition: discovery, leases with epochs, heartbeats (platform-spec §1.7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.platform.messagequeue.sql import leasing
from sq.platform.messagequeue.sql.rows import lease_is
from sq.platform.messagequeue.sql.schema import heartbeats, leases
from sq.platform.messagequeue.sql.transactions import Transactions
from sq.platform.messagequeue.store import Fence, Lease

INLINE_CALLS = frozenset(
    {
        "publish",
        "cycle",
        "cycle_many",
        "extend",
        "discover",
        "leases",
        "try_acquire",
        "renew",
        "release",
        "heartbeat",
        "active_subscribers",
        "deregister",
        "purge_stale",
        "watermark",
        "gc_topic",
        "data_version",
        "gate_closed",
    }
)
"""Calls short enough to run on the event loop on SQLite (see transactions.py)."""


class SqlOwnership:
    def __init__(self, engine: Engine) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        self.transactions = Transactions(engine, INLINE_CALLS)

    @property
    def engine(self) -> Engine:
        return self.transactions.engine_here()

    def _insert(self, table: sa.Table) -> Any:
        return postgresql.insert(table) if self._postgres else sqlite.insert(table)

    # --- discovery, leases, heartbeats -----------------------------------------------------------

    def discover(self, consumer_group: str, topic: str) -> list[str]:
        with self.transactions.begin() as tx:
            rows = tx.all(leasing.DISCOVER, {"topic": topic, "group": consumer_group})
        return [row[0] for row in rows]

    def gate_closed(self, consumer_group: str, partition_key: str) -> bool:
        """The consumer gate (`sq.platform.consumer.gate`), read as one of the queue's calls."""
        params = {"group": consumer_group, "partition_key": partition_key}
        with self.transactions.begin() as tx:
            return tx.first(leasing.GATE_CLOSED, params) is not None

    def data_version(self) -> int:
        """SQLite's `PRAGMA data_version` on the connection this call runs on: on the event loop,
        the loop's own, which does not count its own commits (only other connections')."""
        connection = self.transactions.connection_here()
        return int(connection.execute("PRAGMA data_version").fetchone()[0])

    def leases(self, consumer_group: str, topic: str, *, held: bool = False) -> list[Lease]:
        query = sa.select(leases).where(
            leases.c.consumer_group == consumer_group, leases.c.topic == topic
        )
        if held:
            # Written out, not bound: SQLite uses a partial index only for a literal predicate.
            query = query.where(sa.text("mq_leases.leased_by <> ''"))
        # Sorted here, not in SQL: an ORDER BY makes SQLite walk the primary key instead.
        with read_only(self.engine) as conn:
            found = [
                Lease(
                    partition_key=r.partition_key,
                    owner=r.leased_by,
                    epoch=r.epoch,
                    renewed_at_ms=r.renewed_at_ms,
                )
                for r in conn.execute(query)
            ]
        return sorted(found, key=lambda lease: lease.partition_key)

    def try_acquire(
        self,
        consumer_group: str,
        topic: str,
        partition_key: str,
        owner: str,
        now_ms: int,
        stale_before_ms: int,
    ) -> Lease | None:
        params = {
            "group": consumer_group,
            "topic": topic,
            "partition_key": partition_key,
            "owner": owner,
            "now": now_ms,
            "stale_before": stale_before_ms,
        }
        with self.transactions.begin() as tx:
            found = tx.first(leasing.TRY_ACQUIRE, params)
        if found is None:
            return None
        return Lease(partition_key=partition_key, owner=owner, epoch=found[0], renewed_at_ms=now_ms)

    def renew(self, fences: Sequence[Fence], now_ms: int) -> list[str]:
        lost = []
        with self.transactions.begin() as tx:
            for fence in fences:
                params = {
                    "now": now_ms,
                    "group": fence.consumer_group,
                    "topic": fence.topic,
                    "partition_key": fence.partition_key,
                    "owner": fence.owner,
                    "epoch": fence.epoch,
                }
                if tx.run(leasing.RENEW, params) != 1:
                    lost.append(fence.partition_key)
        return lost

    def release(self, fence: Fence) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(leases).where(*lease_is(fence)).values(leased_by=""))

    def heartbeat(self, consumer_group: str, topic: str, owner: str, now_ms: int) -> None:
        params = {"group": consumer_group, "topic": topic, "owner": owner, "now": now_ms}
        with self.transactions.begin() as tx:
            tx.run(leasing.HEARTBEAT, params)

    def active_subscribers(self, consumer_group: str, topic: str, since_ms: int) -> list[str]:
        params = {"group": consumer_group, "topic": topic, "since": since_ms}
        with self.transactions.begin() as tx:
            return sorted(row[0] for row in tx.all(leasing.ACTIVE_SUBSCRIBERS, params))

    def deregister(self, consumer_group: str, topic: str, owner: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(heartbeats).where(
                    heartbeats.c.consumer_group == consumer_group,
                    heartbeats.c.topic == topic,
                    heartbeats.c.subscriber == owner,
                )
            )

    def purge_stale(self, consumer_group: str, topic: str, before_ms: int) -> int:
        group_topic = (leases.c.consumer_group == consumer_group, leases.c.topic == topic)
        with self.engine.begin() as conn:
            gone = conn.execute(
                sa.delete(heartbeats).where(
                    heartbeats.c.consumer_group == consumer_group,
                    heartbeats.c.topic == topic,
                    heartbeats.c.heartbeat_at_ms < before_ms,
                )
            ).rowcount
            # Freed, not deleted: the row keeps the epoch, so a takeover always raises it.
            gone += conn.execute(
                sa.update(leases)
                .where(*group_topic, leases.c.leased_by != "", leases.c.renewed_at_ms < before_ms)
                .values(leased_by="")
            ).rowcount
        return int(gone)
