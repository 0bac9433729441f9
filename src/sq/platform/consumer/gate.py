"""The consumer gate: an operator stops one stage (consumer group), or one partition of it, at
runtime without stopping the process (platform-spec §2.7).

A blocked delivery is parked (a record for observability) and postponed for a second, so it is
re-checked on every redelivery and spends no attempt. Reading the gate fails open.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.platform.messagequeue.sql.schema import gates, parked

if TYPE_CHECKING:
    from sq.platform.messagequeue.sql.store import SqlQueueStore

RECHECK_MS = 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class GateState:
    consumer_group: str
    partition_key: str
    """Empty: every partition of the group."""
    reason: str = ""
    created_by: str = ""
    created_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ParkedDelivery:
    consumer_group: str
    topic: str
    partition_key: str
    message_id: str
    payload: str
    attempt: int
    parked_at_ms: int


class Gate(Protocol):
    def is_closed(self, consumer_group: str, partition_key: str) -> bool:
        """True when the group, or this partition of it, is stopped. Callers fail open on errors."""

    def park(self, record: ParkedDelivery) -> None: ...

    def unpark(self, consumer_group: str, topic: str, partition_key: str, message_id: str) -> None:
        """Forget a parked record (a no-op when there is none)."""


class NoopGate:
    def is_closed(self, consumer_group: str, partition_key: str) -> bool:
        return False

    def park(self, record: ParkedDelivery) -> None:
        return None

    def unpark(self, consumer_group: str, topic: str, partition_key: str, message_id: str) -> None:
        return None


class SqlGate:
    """Gates kept in the queue's database, so `sq mq gate` reaches every process that uses it."""

    def __init__(self, engine: Engine, store: SqlQueueStore | None = None) -> None:
        """With `store` (the queue's own, on the same database), a delivery's gate check is one
        of the queue's calls: on a SQLite file it runs on the event loop, not on a thread."""
        self.engine = engine
        self._store = store
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    async def closed(self, consumer_group: str, partition_key: str) -> bool:
        if self._store is None:
            return await asyncio.to_thread(self.is_closed, consumer_group, partition_key)
        return await self._store.call(self._store.gate_closed, consumer_group, partition_key)

    def is_closed(self, consumer_group: str, partition_key: str) -> bool:
        query = sa.select(sa.literal(1)).where(
            gates.c.consumer_group == consumer_group,
            gates.c.partition_key.in_(["", partition_key]),
        )
        with read_only(self.engine) as conn:
            return conn.execute(query).first() is not None

    def close(self, state: GateState) -> None:
        values = {
            "reason": state.reason,
            "created_by": state.created_by,
            "created_at_ms": state.created_at_ms,
        }
        stmt = (
            self._insert(gates)
            .values(
                consumer_group=state.consumer_group, partition_key=state.partition_key, **values
            )
            .on_conflict_do_update(
                index_elements=[gates.c.consumer_group, gates.c.partition_key], set_=values
            )
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def open(self, consumer_group: str, partition_key: str = "") -> bool:
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.delete(gates).where(
                    gates.c.consumer_group == consumer_group, gates.c.partition_key == partition_key
                )
            )
            return bool(done.rowcount)

    def list_gates(self) -> list[GateState]:
        with read_only(self.engine) as conn:
            rows = conn.execute(
                sa.select(gates).order_by(gates.c.consumer_group, gates.c.partition_key)
            )
            return [GateState(**row._mapping) for row in rows]

    def park(self, record: ParkedDelivery) -> None:
        values = {
            "payload": record.payload,
            "attempt": record.attempt,
            "parked_at_ms": record.parked_at_ms,
        }
        stmt = (
            self._insert(parked)
            .values(
                consumer_group=record.consumer_group,
                topic=record.topic,
                partition_key=record.partition_key,
                message_id=record.message_id,
                **values,
            )
            .on_conflict_do_update(
                index_elements=[
                    parked.c.consumer_group,
                    parked.c.topic,
                    parked.c.partition_key,
                    parked.c.message_id,
                ],
                set_=values,
            )
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def unpark(self, consumer_group: str, topic: str, partition_key: str, message_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                sa.delete(parked).where(
                    parked.c.consumer_group == consumer_group,
                    parked.c.topic == topic,
                    parked.c.partition_key == partition_key,
                    parked.c.message_id == message_id,
                )
            )

    def list_parked(self, consumer_group: str | None = None) -> list[ParkedDelivery]:
        query = sa.select(parked).order_by(parked.c.parked_at_ms)
        if consumer_group:
            query = query.where(parked.c.consumer_group == consumer_group)
        with read_only(self.engine) as conn:
            return [ParkedDelivery(**row._mapping) for row in conn.execute(query)]


async def read_gate(gate: Gate, consumer_group: str, partition_key: str) -> bool:
    """`gate.is_closed`, on a thread unless the gate has a cheaper way (`SqlGate.closed`)."""
    if isinstance(gate, SqlGate):
        return await gate.closed(consumer_group, partition_key)
    return await asyncio.to_thread(gate.is_closed, consumer_group, partition_key)


class MemoryGate(NoopGate):
    """Gates in a dict: for tests and the in-memory backend."""

    def __init__(self) -> None:
        self.closed: set[tuple[str, str]] = set()
        self.parked: dict[tuple[str, str, str, str], ParkedDelivery] = {}
        self.fail_reads = False

    def is_closed(self, consumer_group: str, partition_key: str) -> bool:
        if self.fail_reads:
            raise OSError("gate store unavailable")
        return (consumer_group, "") in self.closed or (consumer_group, partition_key) in self.closed

    def park(self, record: ParkedDelivery) -> None:
        key = (record.consumer_group, record.topic, record.partition_key, record.message_id)
        self.parked[key] = record

    def unpark(self, consumer_group: str, topic: str, partition_key: str, message_id: str) -> None:
        self.parked.pop((consumer_group, topic, partition_key, message_id), None)
