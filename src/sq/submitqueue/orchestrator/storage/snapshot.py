"""The speculate run's read: one queue's in-flight state in one transaction (speculation-spec §3.2).

One transaction makes the read a consistent cut, so a run never sees half of what another stage
wrote (SQLite serializes it with `BEGIN IMMEDIATE`; PostgreSQL reads at REPEATABLE READ). A fixed
number of statements, whatever the queue's depth, keeps its cost linear in the rows it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sq.submitqueue.core.controls_sql import read_control
from sq.submitqueue.entity.batch import ACTIVE_STATES, Batch, BatchID
from sq.submitqueue.entity.build import Build, BuildID
from sq.submitqueue.entity.control import QueueControl
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.pathset import PathAttempt, PathSet, is_path_terminal
from sq.submitqueue.orchestrator.storage import tables as t
from sq.submitqueue.orchestrator.storage.batches import batch_of, build_of, number_of, path_set_of

CHUNK = 500
"""Keys per `IN (…)` list: far below every backend's limit on bound parameters."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRows:
    """What one speculate run reads, before build observations are folded in.

    `builds` has a key for every unfinished entry's attempt that has a link: the Build row, or
    None when the link names a build whose row is missing (treated as not started).
    """

    in_flight: tuple[Batch, ...]
    finalized: tuple[Batch, ...]
    path_sets: dict[BatchID, PathSet]
    builds: dict[PathAttempt, Build | None]
    control: QueueControl = field(default_factory=lambda: QueueControl(queue=""))
    """The queue's mode as the gateway last told it (read in the same transaction)."""


def _chunks(keys: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def _rows(
    conn: Connection, table: sa.Table, column: Any, queue: str, keys: Iterable[str]
) -> list[Any]:
    wanted = list(dict.fromkeys(keys))
    found: list[Any] = []
    for chunk in _chunks(wanted):
        found += conn.execute(
            sa.select(table).where(table.c.queue == queue, column.in_(chunk))
        ).all()
    return found


class SnapshotStore:
    engine: Engine

    def read_queue(self, queue: str) -> QueueRows:
        """The queue's in-flight batches (oldest first), the finalized batches they depend on,
        their path sets, and the builds linked to every unfinished path attempt."""
        with self.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                return _read(conn, queue)


def _read(conn: Connection, queue: str) -> QueueRows:
    b = t.batch.c
    listed = conn.execute(
        sa.select(t.batch).where(b.queue == queue, b.state.in_([s.value for s in ACTIVE_STATES]))
    ).all()
    in_flight = tuple(sorted((batch_of(r) for r in listed), key=lambda x: number_of(x.id)))
    known = {x.id for x in in_flight}
    missing = [d for x in in_flight for d in x.dependencies if d not in known]
    by_id = {r.id: batch_of(r) for r in _rows(conn, t.batch, b.id, queue, missing)}
    finalized = tuple(by_id[d] for d in dict.fromkeys(missing) if d in by_id)

    heads = [x.id for x in in_flight]
    sets = [path_set_of(r) for r in _rows(conn, t.path_set, t.path_set.c.head, queue, heads)]
    path_sets = {s.head: s for s in sets}
    open_attempts = {e.execution for s in sets for e in s.paths if not is_path_terminal(e.status)}
    links: dict[PathAttempt, BuildID] = {}
    pb = t.path_build.c
    for row in _rows(conn, t.path_build, pb.path_id, queue, [a.path_id for a in open_attempts]):
        attempt = PathAttempt(path_id=PathID(row.path_id), attempt=row.attempt)
        if attempt in open_attempts:
            links[attempt] = BuildID(row.build_id)
    builds_by_id = {
        r.id: build_of(r) for r in _rows(conn, t.build, t.build.c.id, queue, links.values())
    }
    builds = {attempt: builds_by_id.get(build_id) for attempt, build_id in links.items()}
    return QueueRows(
        in_flight=in_flight,
        finalized=finalized,
        path_sets=path_sets,
        builds=builds,
        control=read_control(conn, t.queue_control, queue),
    )
