"""`QueueStore` on SQLite and PostgreSQL: one schema, one code path, dialect upserts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sq.platform.db import read_only
from sq.platform.messagequeue.model import LeaseLostError, OutgoingMessage
from sq.platform.messagequeue.sql import cycle, publishing
from sq.platform.messagequeue.sql.cyclegroup import CycleArgs, CycleGroup
from sq.platform.messagequeue.sql.ownership import SqlOwnership
from sq.platform.messagequeue.sql.schema import messages, offsets, partitions
from sq.platform.messagequeue.store import (
    CycleResult,
    Fence,
    FetchSpec,
    Outcome,
    PartitionInfo,
)

NOTIFY_CHANNEL = "sq_mq"
COLLECT = sa.text(
    "DELETE FROM mq_messages WHERE topic = :topic AND partition_key = :key "
    "AND seq <= :low AND created_at_ms < :before"
)
PARTITIONS_PER_COLLECTION = 1000
"""Partitions collected, and settled, per collection at most: a backlog (after an upgrade, or
a burst of partitions used once) goes in steps, and no collection holds the loop for long."""
SETTLE = sa.text(
    "UPDATE mq_partitions SET settled_seq = :seq "
    "WHERE topic = :topic AND partition_key = :key AND last_seq = :seq"
)
P = ParamSpec("P")
T = TypeVar("T")


class SqlQueueStore(SqlOwnership):
    """Publishing (`publishing.py`) and the partition cycle (`cycle.py`) run on the bare driver
    (`dbapi.py`); leases (`ownership.py`), collection and inspection on SQLAlchemy Core. Where
    each call runs, on a thread or on the event loop, is `transactions.py`'s decision."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._cycles = CycleGroup(self._cycle_many) if self.transactions.inline else None

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        if self._cycles is not None and fn == self.cycle and not kwargs:
            result: T = await self._cycles.cycle(args)  # type: ignore[arg-type,assignment]
            return result
        return await self.transactions.call(fn, *args, **kwargs)

    async def _cycle_many(self, batch: list[CycleArgs]) -> list[CycleResult | Exception]:
        return await self.transactions.call(self.cycle_many, batch)

    def close(self) -> None:
        self.transactions.close()

    # --- publish ---------------------------------------------------------------------------------

    def publish(self, batch: Sequence[OutgoingMessage], now_ms: int) -> list[bool]:
        with self.transactions.begin() as tx:
            return publishing.publish(tx, batch, now_ms)

    def publish_in(
        self, conn: Connection, batch: Sequence[OutgoingMessage], now_ms: int
    ) -> list[bool]:
        """Publish inside the caller's transaction: the messages commit or roll back with it."""
        with self.transactions.inside(conn) as tx:
            return publishing.publish(tx, batch, now_ms)

    # --- the partition cycle ---------------------------------------------------------------------

    def cycle(
        self, fence: Fence, outcomes: Sequence[Outcome], fetch: FetchSpec | None, now_ms: int
    ) -> CycleResult:
        with self.transactions.begin() as tx:
            return cycle.cycle(tx, fence, outcomes, fetch, now_ms)

    def cycle_many(self, batch: list[CycleArgs]) -> list[CycleResult | Exception]:
        """Several partitions' cycles in one transaction, each in a savepoint of its own."""
        with self.transactions.begin() as tx:
            if len(batch) == 1:
                try:
                    return [cycle.cycle(tx, *batch[0])]
                except LeaseLostError as exc:  # nothing was written before the fence check
                    return [exc]
            results: list[CycleResult | Exception] = []
            for args in batch:
                tx.execute_text("SAVEPOINT sq_cycle")
                try:
                    results.append(cycle.cycle(tx, *args))
                except Exception as exc:  # noqa: BLE001 - handed to that cycle's caller
                    tx.execute_text("ROLLBACK TO sq_cycle")
                    results.append(exc)
                tx.execute_text("RELEASE sq_cycle")
            return results

    def extend(self, fence: Fence, seq: int, until_ms: int) -> bool:
        with self.transactions.begin() as tx:
            return cycle.extend(tx, fence, seq, until_ms)

    # --- collection and inspection ---------------------------------------------------------------

    def gc_topic(self, topic: str, created_before_ms: int) -> int:
        # Partition by partition, each a range of the order index up to what every group passed:
        # one DELETE over the topic read every message still waiting (90 ms for a backlog of
        # 100,000 on SQLite, every collection).
        with self.engine.begin() as conn:
            ranges = [
                {"topic": topic, "key": key, "low": low, "before": created_before_ms}
                for key, low in conn.execute(_collectable(topic, created_before_ms))
            ]
            gone = conn.execute(COLLECT, ranges).rowcount if ranges else 0
            done = [
                {"topic": topic, "key": row.partition_key, "seq": row.last_seq}
                for row in conn.execute(_settled_candidates(topic))
            ]
            if done:
                # `last_seq = :seq`: a publish since the read (or waiting on the row) keeps the
                # partition unsettled. Sequence numbers never restart, so a settled partition
                # hides nothing: every seq up to it is gone and every group is past it.
                conn.execute(SETTLE, done)
            return gone

    def partitions(self, topic: str) -> list[PartitionInfo]:
        counts = (
            sa.select(messages.c.partition_key, sa.func.count().label("n"))
            .where(messages.c.topic == topic)
            .group_by(messages.c.partition_key)
            .subquery()
        )
        query = (
            sa.select(
                partitions.c.partition_key, partitions.c.last_seq, sa.func.coalesce(counts.c.n, 0)
            )
            .select_from(
                partitions.outerjoin(counts, counts.c.partition_key == partitions.c.partition_key)
            )
            .where(partitions.c.topic == topic)
            .order_by(partitions.c.partition_key)
        )
        with read_only(self.engine) as conn:
            return [
                PartitionInfo(topic=topic, partition_key=k, last_seq=s, messages=int(n))
                for k, s, n in conn.execute(query)
            ]

    def watermark(self, consumer_group: str, topic: str, partition_key: str) -> int:
        query = sa.select(offsets.c.acked_seq).where(
            offsets.c.consumer_group == consumer_group,
            offsets.c.topic == topic,
            offsets.c.partition_key == partition_key,
        )
        with read_only(self.engine) as conn:
            return int(conn.execute(query).scalar() or 0)


def _collectable(topic: str, created_before_ms: int) -> sa.Select[Any]:
    """Each unsettled partition of `topic` holding a row that every group reading it has passed
    and that is older than the cutoff, with the lowest of those groups' watermarks."""
    p = partitions
    low = (
        sa.select(sa.func.min(offsets.c.acked_seq))
        .where(offsets.c.topic == p.c.topic, offsets.c.partition_key == p.c.partition_key)
        .scalar_subquery()
    )
    unsettled = (
        sa.select(p.c.partition_key, low.label("low"))
        .where(p.c.topic == topic, p.c.last_seq > p.c.settled_seq)
        .subquery("unsettled")
    )
    passed = sa.exists().where(
        messages.c.topic == topic,
        messages.c.partition_key == unsettled.c.partition_key,
        messages.c.seq <= unsettled.c.low,
        messages.c.created_at_ms < created_before_ms,
    )
    return (
        sa.select(unsettled.c.partition_key, unsettled.c.low)
        .where(unsettled.c.low > 0, passed)
        .limit(PARTITIONS_PER_COLLECTION)
    )


def _settled_candidates(topic: str) -> sa.Select[Any]:
    """Unsettled partitions of `topic` with nothing stored.

    Nothing stored is nothing to read, whatever a group's watermark: collection removes only
    what every group with a watermark has passed, and the rest (numbers a duplicate publish used,
    dead letters purged) can never be delivered. A group behind jumps to `last_seq` when a new
    message makes the partition pending again.
    """
    p = partitions
    stored = sa.exists().where(
        messages.c.topic == p.c.topic, messages.c.partition_key == p.c.partition_key
    )
    return (
        sa.select(p.c.partition_key, p.c.last_seq)
        .where(p.c.topic == topic, p.c.last_seq > p.c.settled_seq, ~stored)
        .limit(PARTITIONS_PER_COLLECTION)
    )
