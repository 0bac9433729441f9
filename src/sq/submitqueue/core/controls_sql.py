"""A queue-mode table and its store, one copy in each service that keeps the modes: the gateway
(which is told by the operator and refuses new requests while draining) and the orchestrator (which
is told by the gateway through the queue and stops funding builds while paused)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sq.platform.db import read_only
from sq.platform.errs import VersionMismatchError
from sq.submitqueue.entity.control import QueueControl, QueueMode


def control_table(name: str, metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("queue", sa.String(255), primary_key=True),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("changed_at_ms", sa.BigInteger, nullable=False),
    )


def _control_of(row: sa.Row[tuple[object, ...]]) -> QueueControl:
    return QueueControl(
        queue=str(row.queue),
        mode=QueueMode(row.mode),
        version=int(row.version),
        reason=str(row.reason),
        changed_at_ms=int(row.changed_at_ms),
    )


def read_control(conn: Connection, table: sa.Table, queue: str) -> QueueControl:
    """The queue's mode (ACTIVE at version 0 when nobody ever set one): one statement, so a
    caller can fold it into a read transaction of its own."""
    row = conn.execute(sa.select(table).where(table.c.queue == queue)).first()
    return QueueControl(queue=queue) if row is None else _control_of(row)


class ControlStore:
    def __init__(self, engine: Engine, table: sa.Table) -> None:
        self.engine, self.table = engine, table

    def get_control(self, queue: str) -> QueueControl:
        with read_only(self.engine) as conn:
            return read_control(conn, self.table, queue)

    def list_controls(self) -> list[QueueControl]:
        with read_only(self.engine) as conn:
            return [_control_of(r) for r in conn.execute(sa.select(self.table)).all()]

    def save_control(self, control: QueueControl, *, expected_version: int) -> QueueControl:
        """Write `control` if the stored version is still `expected_version` (0: none stored);
        VersionMismatchError otherwise."""
        values = {
            "mode": control.mode.value,
            "version": control.version,
            "reason": control.reason,
            "changed_at_ms": control.changed_at_ms,
        }
        t = self.table
        with self.engine.begin() as conn:
            if expected_version == 0:
                exists = conn.execute(sa.select(t.c.version).where(t.c.queue == control.queue))
                if exists.first() is not None:
                    raise VersionMismatchError(f"queue {control.queue} control changed")
                conn.execute(sa.insert(t).values(queue=control.queue, **values))
                return control
            done = conn.execute(
                sa.update(t)
                .where(t.c.queue == control.queue, t.c.version == expected_version)
                .values(**values)
            )
            if done.rowcount != 1:
                raise VersionMismatchError(f"queue {control.queue} control changed")
        return control

    def apply_change(self, control: QueueControl) -> bool:
        """Store `control` unless a change of the same or a later version is stored (the
        orchestrator's side: changes may arrive twice or out of order). True when stored."""
        current = self.get_control(control.queue)
        if current.version >= control.version:
            return False
        self.save_control(control, expected_version=current.version)
        return True
