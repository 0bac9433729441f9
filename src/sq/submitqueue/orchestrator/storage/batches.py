"""Batches, their request associations, builds, path-build links and path sets."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from sq.platform.db import read_only
from sq.platform.errs import VersionMismatchError
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, Priority, RequestID, is_terminal
from sq.submitqueue.entity.build import TERMINAL_BUILD_STATUSES, Build, BuildID, BuildStatus
from sq.submitqueue.entity.path import Assumption, PathDependency, PathID, SpeculationPath
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.orchestrator.storage import tables as t
from sq.submitqueue.orchestrator.storage.requests import insert_or_exists

_Q: sa.BindParameter[str] = sa.bindparam("queue")
# Statements built once: building a Core statement per call (its clauses, bind parameters and
# cache key) cost about as much CPU as running it (a throw-away timing, doc/benchmarks.md).
_BATCH = sa.select(t.batch).where(t.batch.c.queue == _Q, t.batch.c.id == sa.bindparam("id"))
_BATCH_STATES = sa.select(t.batch.c.id, t.batch.c.state).where(
    t.batch.c.queue == _Q, t.batch.c.id.in_(sa.bindparam("ids", expanding=True))
)
_BUILD = sa.select(t.build).where(t.build.c.queue == _Q, t.build.c.id == sa.bindparam("id"))
_LINKED_BUILD = sa.select(t.path_build.c.build_id).where(
    t.path_build.c.queue == _Q,
    t.path_build.c.path_id == sa.bindparam("path_id"),
    t.path_build.c.attempt == sa.bindparam("attempt"),
)
_PATH_SET = sa.select(t.path_set).where(
    t.path_set.c.queue == _Q, t.path_set.c.head == sa.bindparam("head")
)
_TRANSITION = (
    sa.update(t.batch)
    .where(
        t.batch.c.queue == sa.bindparam("b_queue"),
        t.batch.c.id == sa.bindparam("b_id"),
        t.batch.c.version == sa.bindparam("b_version"),
    )
    .values(
        state=sa.bindparam("b_state"),
        dependencies=sa.bindparam("b_dependencies"),
        overtakes=sa.bindparam("b_overtakes"),
        version=sa.bindparam("b_next"),
    )
)
_UPDATE_PATH_SET = (
    sa.update(t.path_set)
    .where(
        t.path_set.c.queue == sa.bindparam("p_queue"),
        t.path_set.c.head == sa.bindparam("p_head"),
        t.path_set.c.version == sa.bindparam("p_version"),
    )
    .values(paths=sa.bindparam("p_paths"), version=sa.bindparam("p_next"))
)

FINISHED_KEPT = 100_000
"""Terminal batch states `batch_states` remembers per queue before it starts over."""


def batch_of(row: Any) -> Batch:
    return Batch(
        id=BatchID(row.id),
        queue=row.queue,
        contains=tuple(RequestID(x) for x in row.contains),
        dependencies=tuple(BatchID(x) for x in row.dependencies),
        state=BatchState(row.state),
        version=row.version,
        priority=Priority(row.priority),
        overtakes=tuple(BatchID(x) for x in row.overtakes),
    )


def batch_row(batch: Batch) -> dict[str, Any]:
    return {
        "queue": batch.queue,
        "id": batch.id,
        "contains": list(batch.contains),
        "dependencies": list(batch.dependencies),
        "state": batch.state.value,
        "version": batch.version,
        "priority": batch.priority.value,
        "overtakes": list(batch.overtakes),
    }


def _entry_json(entry: PathEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "deps": [[d.batch, d.assumption.value] for d in entry.path.dependencies],
        "status": entry.status.value,
        "attempt": entry.attempt,
        "lost": entry.lost,
        **({"relaunched": entry.relaunched} if entry.relaunched else {}),
        "retried": entry.retried,
        "version": entry.version,
        "created_at_ms": entry.created_at_ms,
        "updated_at_ms": entry.updated_at_ms,
        **({"carries": entry.carries} if entry.carries else {}),
    }


def _entry(head: BatchID, raw: dict[str, Any]) -> PathEntry:
    deps = tuple(PathDependency(batch=BatchID(b), assumption=Assumption(a)) for b, a in raw["deps"])
    return PathEntry(
        id=PathID(raw["id"]),
        path=SpeculationPath(head=head, dependencies=deps),
        status=PathStatus(raw["status"]),
        attempt=int(raw["attempt"]),
        lost=int(raw.get("lost", 0)),
        relaunched=int(raw.get("relaunched", 0)),
        retried=int(raw.get("retried", 0)),
        version=int(raw.get("version", 1)),
        created_at_ms=int(raw.get("created_at_ms", 0)),
        updated_at_ms=int(raw.get("updated_at_ms", 0)),
        carries=BatchID(raw["carries"]) if raw.get("carries") else None,
    )


def build_of(row: Any) -> Build:
    return Build(
        id=BuildID(row.id),
        batch_id=BatchID(row.batch_id),
        path_id=PathID(row.path_id),
        attempt=row.attempt,
        status=BuildStatus(row.status),
        base=row.base,
        assumed=tuple(BatchID(b) for b in row.assumed),
    )


def path_set_of(row: Any) -> PathSet:
    head = BatchID(row.head)
    return PathSet(
        queue=row.queue,
        head=head,
        paths=tuple(_entry(head, e) for e in row.paths),
        version=row.version,
    )


class BatchStore:
    engine: Engine

    # --- batches -------------------------------------------------------------------------------

    def create_batch(self, batch: Batch) -> bool:
        return insert_or_exists(self.engine, t.batch, **batch_row(batch))

    def get_batch(self, queue: str, batch_id: str) -> Batch | None:
        with read_only(self.engine) as conn:
            row = conn.execute(_BATCH, {"queue": queue, "id": batch_id}).one_or_none()
        return None if row is None else batch_of(row)

    def get_batches(self, queue: str, ids: Iterable[str]) -> dict[BatchID, Batch]:
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        b = t.batch.c
        with read_only(self.engine) as conn:
            rows = conn.execute(sa.select(t.batch).where(b.queue == queue, b.id.in_(wanted)))
            return {BatchID(row.id): batch_of(row) for row in rows}

    def batch_contents(
        self, queue: str, ids: Iterable[str]
    ) -> dict[BatchID, tuple[RequestID, ...]]:
        """The requests of those of `ids` that exist, without the rest of their rows: a build or
        a landing may assume every batch ahead of it, and each of those rows carries its own
        dependencies, so reading whole rows for them parsed a number of ids quadratic in the
        depth (the build and merge stages need only what each batch contains)."""
        wanted = list(dict.fromkeys(ids))
        if not wanted:
            return {}
        b = t.batch.c
        query = sa.select(b.id, b.contains).where(b.queue == queue, b.id.in_(wanted))
        with read_only(self.engine) as conn:
            return {
                BatchID(row.id): tuple(RequestID(x) for x in row.contains)
                for row in conn.execute(query)
            }

    def batch_states(self, queue: str, ids: Iterable[str]) -> dict[BatchID, BatchState]:
        """The states of those of `ids` that exist, without the rest of their rows: a batch's
        dependencies may name every batch ahead of it, so reading whole rows for the batches
        ahead of a deep head parsed a number of ids quadratic in the depth.

        A terminal state is final (no transition leaves one, and batch rows are never deleted),
        so one read before is not read again: a deep head's landed dependencies, most of those
        it names, cost no statement."""
        finished = self._finished_states(queue)
        found: dict[BatchID, BatchState] = {}
        unknown: list[str] = []
        for batch in dict.fromkeys(ids):
            state = finished.get(batch)
            if state is None:
                unknown.append(batch)
            else:
                found[BatchID(batch)] = state
        if not unknown:
            return found
        with read_only(self.engine) as conn:
            rows = conn.execute(_BATCH_STATES, {"queue": queue, "ids": unknown})
            read = {BatchID(row.id): BatchState(row.state) for row in rows}
        if len(finished) > FINISHED_KEPT:
            finished.clear()
        finished.update((k, v) for k, v in read.items() if is_terminal(v))
        return found | read

    def _finished_states(self, queue: str) -> dict[str, BatchState]:
        caches: dict[str, dict[str, BatchState]] = self.__dict__.setdefault("_finished", {})
        return caches.setdefault(queue, {})

    def list_batches(self, queue: str, states: Iterable[BatchState]) -> list[Batch]:
        """Batches in `states`, oldest first (by their number, so `batch/10` follows `batch/9`)."""
        b = t.batch.c
        with read_only(self.engine) as conn:
            rows = conn.execute(
                sa.select(t.batch).where(b.queue == queue, b.state.in_([s.value for s in states]))
            ).all()
        return sorted((batch_of(r) for r in rows), key=lambda x: number_of(x.id))

    def transition_batch(
        self,
        batch: Batch,
        state: BatchState,
        dependencies: tuple[BatchID, ...] | None = None,
        overtakes: tuple[BatchID, ...] | None = None,
    ) -> Batch:
        """CAS the batch to `state` (and its dependencies and overtaken batches, when given);
        returns the new value."""
        with self.engine.begin() as conn:
            moved = _transition(conn, batch, state, dependencies, overtakes)
        if moved is None:
            raise VersionMismatchError(f"batch {batch.id} changed under us")
        return moved

    def transition_batches(self, moves: Sequence[tuple[Batch, BatchState]]) -> list[Batch | None]:
        """CAS each batch to its state, in one transaction; None where the batch changed since it
        was read (that one is left as it is, the others move)."""
        if not moves:
            return []
        with self.engine.begin() as conn:
            return [_transition(conn, batch, state) for batch, state in moves]

    def commit_verdict(
        self, path_set: PathSet | None, batch: Batch, state: BatchState
    ) -> tuple[PathSet | None, Batch]:
        """Save the head's path set (when given) and CAS its batch to `state` in one transaction:
        both or neither (`VersionMismatchError` when either changed since it was read)."""
        with self.engine.begin() as conn:
            saved = None if path_set is None else _save_path_set(conn, path_set)
            if path_set is not None and saved is None:
                raise VersionMismatchError(f"path set of {batch.id} changed under us")
            moved = _transition(conn, batch, state)
            if moved is None:
                raise VersionMismatchError(f"batch {batch.id} changed under us")
        return saved, moved

    def associate(self, queue: str, request_id: str, batch_id: str) -> None:
        insert_or_exists(
            self.engine, t.request_batch, queue=queue, request_id=request_id, batch_id=batch_id
        )

    def batches_of_request(self, queue: str, request_id: str) -> list[Batch]:
        rb = t.request_batch.c
        with read_only(self.engine) as conn:
            ids = list(
                conn.execute(
                    sa.select(rb.batch_id).where(rb.queue == queue, rb.request_id == request_id)
                ).scalars()
            )
        found = self.get_batches(queue, ids)
        return sorted(found.values(), key=lambda x: number_of(x.id))

    # --- builds and links ----------------------------------------------------------------------

    def create_build(self, queue: str, build: Build) -> bool:
        """False when a build of that id was already recorded (the row is left as it was)."""
        return insert_or_exists(
            self.engine,
            t.build,
            queue=queue,
            id=build.id,
            batch_id=build.batch_id,
            path_id=build.path_id,
            attempt=build.attempt,
            status=build.status.value,
            base=build.base,
            assumed=list(build.assumed),
        )

    def get_build(self, queue: str, build_id: str) -> Build | None:
        with read_only(self.engine) as conn:
            row = conn.execute(_BUILD, {"queue": queue, "id": build_id}).one_or_none()
        return None if row is None else build_of(row)

    def set_build_status(self, queue: str, build_id: str, status: BuildStatus) -> bool:
        """Store an observation of the build; False (nothing written) once a terminal status is
        stored: the speculate run may have acted on it already."""
        c = t.build.c
        finished = sorted(s.value for s in TERMINAL_BUILD_STATUSES)
        with self.engine.begin() as conn:
            return bool(
                conn.execute(
                    sa.update(t.build)
                    .where(c.queue == queue, c.id == build_id, c.status.not_in(finished))
                    .values(status=status.value)
                ).rowcount
            )

    def link_build(self, queue: str, path_id: str, attempt: int, build_id: str) -> bool:
        return insert_or_exists(
            self.engine,
            t.path_build,
            queue=queue,
            path_id=path_id,
            attempt=attempt,
            build_id=build_id,
        )

    def linked_builds(
        self, queue: str, attempts: Iterable[tuple[str, int]]
    ) -> dict[tuple[str, int], BuildID]:
        """The builds linked to the given (path, attempt) pairs, in one statement."""
        wanted = set(attempts)
        if not wanted:
            return {}
        c = t.path_build.c
        with read_only(self.engine) as conn:
            rows = conn.execute(
                sa.select(c.path_id, c.attempt, c.build_id).where(
                    c.queue == queue, c.path_id.in_(sorted({p for p, _ in wanted}))
                )
            ).all()
        return {
            (r.path_id, r.attempt): BuildID(r.build_id)
            for r in rows
            if (r.path_id, r.attempt) in wanted
        }

    def linked_build(self, queue: str, path_id: str, attempt: int) -> str | None:
        keys = {"queue": queue, "path_id": path_id, "attempt": attempt}
        with read_only(self.engine) as conn:
            found = conn.execute(_LINKED_BUILD, keys).scalar_one_or_none()
        return None if found is None else str(found)

    # --- path sets -----------------------------------------------------------------------------

    def get_path_set(self, queue: str, head: str) -> PathSet | None:
        with read_only(self.engine) as conn:
            row = conn.execute(_PATH_SET, {"queue": queue, "head": head}).one_or_none()
        return None if row is None else path_set_of(row)

    def save_path_set(self, path_set: PathSet) -> PathSet:
        """Create (version 0 → 1) or CAS-update the set; VersionMismatchError on a lost race."""
        with self.engine.begin() as conn:
            saved = _save_path_set(conn, path_set)
        if saved is None:
            raise VersionMismatchError(f"path set of {path_set.head} changed under us")
        return saved

    def save_path_sets(self, path_sets: Sequence[PathSet]) -> list[PathSet | None]:
        """`save_path_set` for each, in one transaction; None where that set lost its race (the
        others are saved)."""
        if not path_sets:
            return []
        with self.engine.begin() as conn:
            return [_save_path_set(conn, path_set) for path_set in path_sets]


def _transition(
    conn: Connection,
    batch: Batch,
    state: BatchState,
    dependencies: tuple[BatchID, ...] | None = None,
    overtakes: tuple[BatchID, ...] | None = None,
) -> Batch | None:
    deps = batch.dependencies if dependencies is None else dependencies
    ahead = batch.overtakes if overtakes is None else overtakes
    done = conn.execute(
        _TRANSITION,
        {
            "b_queue": batch.queue,
            "b_id": batch.id,
            "b_version": batch.version,
            "b_state": state.value,
            "b_dependencies": list(deps),
            "b_overtakes": list(ahead),
            "b_next": batch.version + 1,
        },
    )
    if done.rowcount != 1:
        return None
    return dataclasses.replace(
        batch, state=state, dependencies=deps, overtakes=ahead, version=batch.version + 1
    )


def _save_path_set(conn: Connection, path_set: PathSet) -> PathSet | None:
    """Create (version 0 → 1) or CAS-update; None when another writer got there first. An insert
    that finds the row skips it rather than failing, which would abort PostgreSQL's transaction."""
    paths = [_entry_json(e) for e in path_set.paths]
    new_version = path_set.version + 1
    c = t.path_set.c
    if path_set.version == 0:
        dialect = sqlite if conn.dialect.name == "sqlite" else postgresql
        statement = (
            dialect.insert(t.path_set)
            .values(queue=path_set.queue, head=path_set.head, paths=paths, version=1)
            .on_conflict_do_nothing()
            .returning(c.version)
        )
        if conn.execute(statement).first() is None:
            return None
    else:
        keys = {
            "p_queue": path_set.queue,
            "p_head": path_set.head,
            "p_version": path_set.version,
            "p_paths": paths,
            "p_next": new_version,
        }
        if conn.execute(_UPDATE_PATH_SET, keys).rowcount != 1:
            return None
    return dataclasses.replace(path_set, version=new_version)


def number_of(batch_id: str) -> tuple[int, str]:
    tail = batch_id.rsplit("/", 1)[-1]
    return (int(tail), batch_id) if tail.isdigit() else (0, batch_id)
