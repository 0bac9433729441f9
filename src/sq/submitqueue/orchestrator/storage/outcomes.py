"""Batch outcomes in SQL (SQLAlchemy Core, synchronous), kept for the history scorer."""

from __future__ import annotations

import json

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from sq.platform.db import read_only
from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.extension.scorer.outcomes import BatchFeatures, BatchOutcome

metadata = sa.MetaData()
"""Holds `batch_outcome`; add it to the orchestrator's migrations."""

batch_outcome = sa.Table(
    "batch_outcome",
    metadata,
    # SQLite only autoincrements an INTEGER primary key, so the column narrows there.
    sa.Column(
        "seq",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    sa.Column("queue", sa.String(255), nullable=False),
    sa.Column("batch_id", sa.String(255), nullable=False),
    sa.Column("succeeded", sa.Boolean(), nullable=False),
    sa.Column("author", sa.String(255), nullable=True),
    sa.Column("areas", sa.Text(), nullable=False),  # JSON array of strings, sorted
    sa.Column("lines_changed", sa.BigInteger(), nullable=False),
    sa.Column("recorded_at_ms", sa.BigInteger(), nullable=False),
    sa.UniqueConstraint("queue", "batch_id", name="uq_batch_outcome_queue_batch"),
)


class SqlOutcomeStore:
    """The outcomes of one queue in `batch_outcome`, on any SQLAlchemy engine."""

    def __init__(self, engine: sa.Engine, queue: str) -> None:
        self._engine = engine
        self._queue = queue

    def append(self, outcome: BatchOutcome) -> bool:
        row = {
            "queue": self._queue,
            "batch_id": outcome.batch_id,
            "succeeded": outcome.succeeded,
            "author": outcome.features.author,
            "areas": json.dumps(sorted(outcome.features.areas)),
            "lines_changed": outcome.features.lines_changed,
            "recorded_at_ms": outcome.recorded_at_ms,
        }
        try:
            with self._engine.begin() as conn:
                if conn.execute(self._select_id(outcome.batch_id)).first() is not None:
                    return False
                conn.execute(batch_outcome.insert().values(**row))
        except sa_exc.IntegrityError:
            return False  # a concurrent writer recorded the same batch first
        return True

    def _select_id(self, batch_id: str) -> sa.Select[tuple[int]]:
        return sa.select(batch_outcome.c.seq).where(
            batch_outcome.c.queue == self._queue, batch_outcome.c.batch_id == batch_id
        )

    def recent(self, limit: int) -> list[BatchOutcome]:
        if limit <= 0:
            return []
        query = (
            sa.select(batch_outcome)
            .where(batch_outcome.c.queue == self._queue)
            .order_by(batch_outcome.c.seq.desc())
            .limit(limit)
        )
        with read_only(self._engine) as conn:
            rows = conn.execute(query).mappings().all()
        return [_outcome(row) for row in reversed(rows)]

    def prune(self, keep: int) -> int:
        mine = batch_outcome.c.queue == self._queue
        with self._engine.begin() as conn:
            cutoff = conn.execute(
                sa.select(batch_outcome.c.seq)
                .where(mine)
                .order_by(batch_outcome.c.seq.desc())
                .offset(max(0, keep))
                .limit(1)
            ).scalar()
            if cutoff is None:
                return 0
            result = conn.execute(batch_outcome.delete().where(mine, batch_outcome.c.seq <= cutoff))
            return result.rowcount


def _outcome(row: sa.RowMapping) -> BatchOutcome:
    return BatchOutcome(
        batch_id=BatchID(row["batch_id"]),
        features=BatchFeatures(
            author=row["author"],
            areas=frozenset(json.loads(row["areas"])),
            lines_changed=row["lines_changed"],
        ),
        succeeded=bool(row["succeeded"]),
        recorded_at_ms=row["recorded_at_ms"],
    )
