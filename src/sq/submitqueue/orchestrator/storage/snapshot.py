"""The speculate run's read: one queue's in-flight state in one transaction (speculation-spec §3.2).

One transaction makes the read a consistent cut, so a run never sees half of what another stage
wrote (SQLite serializes it with `BEGIN IMMEDIATE`; PostgreSQL reads at REPEATABLE READ). A fixed
number of statements, whatever the queue's depth, keeps its cost linear in the rows it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from sq.platform.db import read_only
from sq.submitqueue.core.controls_sql import read_control
from sq.submitqueue.entity.batch import ACTIVE_STATES, Batch, BatchID, BatchState, is_terminal
from sq.submitqueue.entity.build import Build, BuildID
from sq.submitqueue.entity.control import QueueControl
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.pathset import PathAttempt, PathSet, is_path_terminal
from sq.submitqueue.orchestrator.storage import tables as t
from sq.submitqueue.orchestrator.storage.batches import batch_of, build_of, number_of, path_set_of

LISTED_KEPT = 1000
"""Batches `list_batches` keeps parsed beyond those its last call listed."""
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


def batch_version(batch: Batch) -> int:
    return batch.version


def _set_version(path_set: PathSet) -> int:
    return path_set.version


def chunks(keys: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


def _rows(
    conn: Connection, table: sa.Table, column: Any, queue: str, keys: Iterable[str]
) -> list[Any]:
    wanted = list(dict.fromkeys(keys))
    found: list[Any] = []
    for chunk in chunks(wanted):
        found += conn.execute(
            sa.select(table).where(table.c.queue == queue, column.in_(chunk))
        ).all()
    return found


class SnapshotStore:
    engine: Engine

    def read_queue(self, queue: str) -> QueueRows:
        """The queue's in-flight batches (oldest first), the finalized batches they depend on,
        their path sets, and the builds linked to every unfinished path attempt."""
        cache = self._parsed(queue)
        with read_only(self.engine) as conn:
            if conn.dialect.name == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                return _read(conn, queue, cache)

    def list_batches(self, queue: str, states: Iterable[BatchState]) -> list[Batch]:
        """Batches in `states`, oldest first (by their number, so `batch/10` follows `batch/9`).

        Dependency analysis lists the queue's batches for each new one, serially: parsing only
        those that changed keeps that from parsing every dependency id of every head each time.
        """
        cache = self._parsed(queue)
        b = t.batch.c
        listing = sa.select(b.id, b.version).where(
            b.queue == queue, b.state.in_([s.value for s in states])
        )
        with read_only(self.engine) as conn, conn.begin():
            found = versioned(
                conn, listing, t.batch, b.id, queue, cache.listed, batch_of, batch_version
            )
        if len(cache.listed) > LISTED_KEPT + len(found):
            cache.listed = {}
        cache.listed |= found
        return sorted(found.values(), key=lambda x: number_of(x.id))

    def _parsed(self, queue: str) -> _Parsed:
        caches: dict[str, _Parsed] = self.__dict__.setdefault("_snapshot_cache", {})
        return caches.setdefault(queue, _Parsed())


class _Parsed:
    """Batches and path sets parsed by earlier reads, by key, with the version they had.

    Every write of either bumps its version (compare-and-swap), so an unchanged version is an
    unchanged row: a read lists (key, version) and parses only what changed. At depth that is
    what made a read cost (with the `all` analyzer a head's dependencies and each of its paths
    name every batch ahead of it: 300 heads, about 50,000 ids). Each read keeps only what it saw.
    """

    def __init__(self) -> None:
        self.batches: dict[str, Batch] = {}
        self.path_sets: dict[str, PathSet] = {}
        self.listed: dict[str, Batch] = {}
        """What `list_batches` parsed, whatever the states asked for."""


def versioned(
    conn: Connection,
    listing: sa.Select[Any],
    table: sa.Table,
    key: Any,
    queue: str,
    cached: dict[str, T],
    parse: Callable[[Any], T],
    version_of: Callable[[T], int],
) -> dict[str, T]:
    """The rows `listing` names as (key, version), parsed, reusing `cached` where unchanged."""
    listed = conn.execute(listing).all()
    fresh = {k: cached[k] for k, v in listed if k in cached and version_of(cached[k]) == v}
    stale = [k for k, _ in listed if k not in fresh]
    for row in _rows(conn, table, key, queue, stale):
        fresh[getattr(row, key.name)] = parse(row)
    return fresh


def _read(conn: Connection, queue: str, cache: _Parsed) -> QueueRows:
    b = t.batch.c
    active = [s.value for s in ACTIVE_STATES]
    listing = sa.select(b.id, b.version).where(b.queue == queue, b.state.in_(active))
    current = versioned(conn, listing, t.batch, b.id, queue, cache.batches, batch_of, batch_version)
    in_flight = tuple(sorted(current.values(), key=lambda x: number_of(x.id)))
    known = {x.id for x in in_flight}
    missing = list(dict.fromkeys(d for x in in_flight for d in x.dependencies if d not in known))
    # A finished batch never changes again (no transition leaves a terminal state, and batch
    # rows are never deleted), so one an earlier read parsed is reused without listing it: at
    # depth, with the `all` analyzer, the heads' landed dependencies are most of the ids named.
    by_id: dict[str, Batch] = {}
    unlisted: list[str] = []
    for d in missing:
        kept = cache.batches.get(d)
        if kept is not None and is_terminal(kept.state):
            by_id[d] = kept
        else:
            unlisted.append(d)
    for chunk in chunks(unlisted):
        listing = sa.select(b.id, b.version).where(b.queue == queue, b.id.in_(chunk))
        by_id |= versioned(
            conn, listing, t.batch, b.id, queue, cache.batches, batch_of, batch_version
        )
    finalized = tuple(by_id[d] for d in missing if d in by_id)

    heads = [x.id for x in in_flight]
    p = t.path_set.c
    path_sets: dict[str, PathSet] = {}
    for chunk in chunks(heads):
        listing = sa.select(p.head, p.version).where(p.queue == queue, p.head.in_(chunk))
        path_sets |= versioned(
            conn, listing, t.path_set, p.head, queue, cache.path_sets, path_set_of, _set_version
        )
    cache.batches = current | by_id
    cache.path_sets = path_sets
    sets = [path_sets[h] for h in heads if h in path_sets]
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
        path_sets={s.head: s for s in sets},
        builds=builds,
        control=read_control(conn, t.queue_control, queue),
    )
