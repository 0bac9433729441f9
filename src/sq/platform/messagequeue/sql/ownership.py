"""Who reads which partition: discovery, leases with epochs, heartbeats (platform-spec §1.7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sq.platform.messagequeue.sql.rows import lease_is
from sq.platform.messagequeue.sql.schema import heartbeats, leases, offsets, partitions
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
        # The watermark as a correlated lookup by primary key, not a join: without statistics
        # (a young table, before autovacuum) PostgreSQL planned the join as a nested loop over
        # every offset row of the topic for each partition — 1.5 s for 3,000 partitions.
        watermark = (
            sa.select(offsets.c.acked_seq)
            .where(
                offsets.c.consumer_group == consumer_group,
                offsets.c.topic == partitions.c.topic,
                offsets.c.partition_key == partitions.c.partition_key,
            )
            .scalar_subquery()
        )
        query = (
            sa.select(partitions.c.partition_key)
            .where(partitions.c.topic == topic)
            .where(partitions.c.last_seq > partitions.c.settled_seq)  # the partial index
            .where(partitions.c.last_seq > sa.func.coalesce(watermark, 0))
            .order_by(partitions.c.partition_key)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def leases(self, consumer_group: str, topic: str, *, held: bool = False) -> list[Lease]:
        query = sa.select(leases).where(
            leases.c.consumer_group == consumer_group, leases.c.topic == topic
        )
        if held:
            # Written out, not bound: SQLite uses a partial index only for a literal predicate.
            query = query.where(sa.text("mq_leases.leased_by <> ''"))
        # Sorted here, not in SQL: an ORDER BY makes SQLite walk the primary key instead.
        with self.engine.connect() as conn:
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
        stmt = self._insert(leases).values(
            consumer_group=consumer_group,
            topic=topic,
            partition_key=partition_key,
            leased_by=owner,
            epoch=1,
            leased_at_ms=now_ms,
            renewed_at_ms=now_ms,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[leases.c.consumer_group, leases.c.topic, leases.c.partition_key],
            set_={
                "leased_by": owner,
                "epoch": leases.c.epoch + 1,
                "leased_at_ms": now_ms,
                "renewed_at_ms": now_ms,
            },
            where=sa.or_(leases.c.leased_by == "", leases.c.renewed_at_ms < stale_before_ms),
        ).returning(leases.c.epoch)
        with self.engine.begin() as conn:
            epoch = conn.execute(stmt).scalar_one_or_none()
        if epoch is None:
            return None
        return Lease(partition_key=partition_key, owner=owner, epoch=epoch, renewed_at_ms=now_ms)

    def renew(self, fences: Sequence[Fence], now_ms: int) -> list[str]:
        lost = []
        with self.engine.begin() as conn:
            for fence in fences:
                done = conn.execute(
                    sa.update(leases).where(*lease_is(fence)).values(renewed_at_ms=now_ms)
                )
                if done.rowcount != 1:
                    lost.append(fence.partition_key)
        return lost

    def release(self, fence: Fence) -> None:
        with self.engine.begin() as conn:
            conn.execute(sa.update(leases).where(*lease_is(fence)).values(leased_by=""))

    def heartbeat(self, consumer_group: str, topic: str, owner: str, now_ms: int) -> None:
        stmt = self._insert(heartbeats).values(
            consumer_group=consumer_group, topic=topic, subscriber=owner, heartbeat_at_ms=now_ms
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=[
                heartbeats.c.consumer_group,
                heartbeats.c.topic,
                heartbeats.c.subscriber,
            ],
            set_={"heartbeat_at_ms": now_ms},
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def active_subscribers(self, consumer_group: str, topic: str, since_ms: int) -> list[str]:
        query = sa.select(heartbeats.c.subscriber).where(
            heartbeats.c.consumer_group == consumer_group,
            heartbeats.c.topic == topic,
            heartbeats.c.heartbeat_at_ms >= since_ms,
        )
        with self.engine.connect() as conn:
            return sorted(conn.execute(query).scalars())

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
