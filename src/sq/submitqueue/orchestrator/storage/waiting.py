"""Batching's rows: requests waiting for a batch, and the parts of each split batch.

Each change of who holds a request is one transaction, so that a request is in exactly one live
batch, or waiting, whatever crashes or redeliveries come: closing a batch removes its members'
waiting rows and creates the batch with its associations together; splitting a failed batch
records the split with its parts together.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Connection, Engine

from sq.platform.db import read_only
from sq.submitqueue.entity.batch import TERMINAL_STATES, Batch, BatchID, RequestID
from sq.submitqueue.orchestrator.storage import tables as t
from sq.submitqueue.orchestrator.storage.batches import batch_of, number_of
from sq.submitqueue.orchestrator.storage.requests import ignoring_duplicates


@dataclass(frozen=True, slots=True, kw_only=True)
class WaitingRow:
    request: RequestID
    since_ms: int


def _insert_batch(conn: Connection, batch: Batch) -> None:
    conn.execute(
        sa.insert(t.batch).values(
            queue=batch.queue,
            id=batch.id,
            contains=list(batch.contains),
            dependencies=list(batch.dependencies),
            state=batch.state.value,
            version=batch.version,
            priority=batch.priority.value,
            overtakes=list(batch.overtakes),
        )
    )
    for request_id in batch.contains:
        conn.execute(
            sa.insert(t.request_batch).values(
                queue=batch.queue, request_id=request_id, batch_id=batch.id
            )
        )


def _note_arrivals(conn: Connection, queue: str, request_ids: Sequence[str], at_ms: int) -> None:
    """Each request's arrival at `at_ms`, unless it arrived already (kept as it was)."""
    rows = [{"queue": queue, "request_id": r, "at_ms": at_ms} for r in dict.fromkeys(request_ids)]
    if rows:
        conn.execute(ignoring_duplicates(conn, t.batch_arrival), rows)


class WaitStore:
    engine: Engine

    def enqueue_waiting(
        self, queue: str, request_id: str, since_ms: int, count: bool = False
    ) -> bool:
        """Let `request_id` wait for a batch, unless it waits already or a live (not finished)
        batch holds it; True when it waits now. With `count`, its first wait is also an arrival
        (`arrivals`)."""
        rb, b, w = t.request_batch.c, t.batch.c, t.batch_wait.c
        live = (
            sa.select(sa.func.count())
            .select_from(
                t.request_batch.join(t.batch, sa.and_(b.queue == rb.queue, b.id == rb.batch_id))
            )
            .where(
                rb.queue == queue,
                rb.request_id == request_id,
                b.state.not_in([s.value for s in TERMINAL_STATES]),
            )
        )
        try:
            with self.engine.begin() as conn:
                if conn.execute(live).scalar_one():
                    return False
                waits = sa.select(w.request_id).where(w.queue == queue, w.request_id == request_id)
                if conn.execute(waits).first() is not None:
                    return True
                conn.execute(
                    sa.insert(t.batch_wait).values(
                        queue=queue, request_id=request_id, since_ms=since_ms
                    )
                )
                if count:
                    _note_arrivals(conn, queue, [request_id], since_ms)
        except sa_exc.IntegrityError:
            return True  # a concurrent enqueue of the same request
        return True

    def note_arrivals(self, queue: str, request_ids: Sequence[str], at_ms: int) -> None:
        """Count these requests as arrived at `at_ms` (`arrivals`), those not counted already,
        without letting them wait: what a queue batching only while deep does while shallow."""
        with self.engine.begin() as conn:
            _note_arrivals(conn, queue, request_ids, at_ms)

    def arrivals(self, queue: str, after_ms: int) -> int:
        """How many requests of the queue arrived after `after_ms` (first waited, or were noted;
        each counted once, whatever redeliveries or re-queues came); older ones are forgotten."""
        a = t.batch_arrival.c
        with self.engine.begin() as conn:
            conn.execute(sa.delete(t.batch_arrival).where(a.queue == queue, a.at_ms <= after_ms))
            found = conn.execute(
                sa.select(sa.func.count()).select_from(t.batch_arrival).where(a.queue == queue)
            )
            return int(found.scalar_one())

    def waiting(self, queue: str) -> list[WaitingRow]:
        """The queue's waiting requests, in queue order (by when they started waiting)."""
        w = t.batch_wait.c
        with read_only(self.engine) as conn:
            rows = conn.execute(sa.select(w.request_id, w.since_ms).where(w.queue == queue)).all()
        found = [
            WaitingRow(request=RequestID(r.request_id), since_ms=int(r.since_ms)) for r in rows
        ]
        return sorted(found, key=lambda r: (r.since_ms, number_of(r.request)))

    def drop_waiting(self, queue: str, request_id: str) -> bool:
        """Stop `request_id` waiting; True when it was waiting."""
        w = t.batch_wait.c
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.delete(t.batch_wait).where(w.queue == queue, w.request_id == request_id)
            )
        return bool(done.rowcount)

    def close_waiting(self, batch: Batch) -> bool:
        """Create `batch` (with its associations) from waiting requests, removing their waiting
        rows in the same transaction; False, with nothing changed, unless every member was still
        waiting (a concurrent formation took one)."""
        w = t.batch_wait.c
        try:
            with self.engine.connect() as conn, conn.begin() as tx:
                done = conn.execute(
                    sa.delete(t.batch_wait).where(
                        w.queue == batch.queue, w.request_id.in_(list(batch.contains))
                    )
                )
                if done.rowcount != len(set(batch.contains)):
                    tx.rollback()
                    return False
                _insert_batch(conn, batch)
        except sa_exc.IntegrityError:
            return False
        return True

    def split_batch(self, failed: Batch, parts: Sequence[Batch]) -> list[Batch]:
        """Record that `failed` was split into `parts` and create them, in one transaction; a
        batch split before keeps its first parts, which are returned instead."""
        s = t.batch_split.c
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    sa.insert(t.batch_split).values(
                        queue=failed.queue, batch_id=failed.id, parts=[p.id for p in parts]
                    )
                )
                for part in parts:
                    _insert_batch(conn, part)
            return list(parts)
        except sa_exc.IntegrityError:
            pass
        with read_only(self.engine) as conn:
            ids = conn.execute(
                sa.select(s.parts).where(s.queue == failed.queue, s.batch_id == failed.id)
            ).scalar_one()
            b = t.batch.c
            rows = conn.execute(
                sa.select(t.batch).where(b.queue == failed.queue, b.id.in_(list(ids)))
            ).all()
        found = {BatchID(r.id): batch_of(r) for r in rows}
        return [found[BatchID(i)] for i in ids if BatchID(i) in found]
