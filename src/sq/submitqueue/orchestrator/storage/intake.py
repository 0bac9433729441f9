"""Dependency analysis in bursts: every `creating` batch of a queue read, and created, at once.

A burst reads in one transaction (the `creating` batches, the batches they may depend on, their
requests and which batches already carry those requests) and writes in one transaction (the
requests' claim, the associations and the batches' dependencies and state), whatever the number of
batches in it. Every row written is compare-and-swapped on its version, so a burst that lost a race
writes nothing (`VersionMismatchError`) and is read again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from sq.platform.counter import Counter
from sq.platform.db import read_only
from sq.platform.errs import VersionMismatchError
from sq.submitqueue.entity.batch import (
    DEPENDENCY_STATES,
    Batch,
    BatchID,
    BatchState,
    RequestID,
    batch_id,
    is_terminal,
)
from sq.submitqueue.entity.request import Request, RequestState
from sq.submitqueue.orchestrator.storage import tables as t
from sq.submitqueue.orchestrator.storage.batches import batch_of, batch_row, number_of
from sq.submitqueue.orchestrator.storage.requests import ignoring_duplicates, request_of
from sq.submitqueue.orchestrator.storage.snapshot import (
    LISTED_KEPT,
    SnapshotStore,
    batch_version,
    chunks,
    versioned,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Intake:
    """One queue's batches waiting for dependency analysis, and what deciding them needs."""

    creating: tuple[Batch, ...]
    """Oldest first (by number)."""
    in_flight: tuple[Batch, ...]
    """The batches a new one may depend on (`DEPENDENCY_STATES`), oldest first."""
    requests: dict[RequestID, Request]
    """Every request a `creating` batch contains, those that exist."""
    carried: frozenset[RequestID]
    """Requests already associated with a live batch past `creating` (one that ended was split,
    or re-queued its members after a cancel: it carries them no more)."""
    associated: frozenset[tuple[RequestID, BatchID]]
    """The (request, batch) associations already stored for the `creating` batches' requests."""
    ended: frozenset[RequestID] = frozenset()
    """Requests a batch that has ended held (split, or re-queued after a cancel)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Creation:
    """One batch to create: its dependencies and overtaken batches, and its requests as read."""

    batch: Batch
    dependencies: tuple[BatchID, ...]
    overtakes: tuple[BatchID, ...]
    requests: tuple[Request, ...]
    """Each in `validated` (claimed for the batch here) or already `batched`."""


_LIVE_HOLDERS = (
    sa.select(t.request_batch.c.request_id, t.batch)
    .join(
        t.batch,
        sa.and_(
            t.batch.c.queue == t.request_batch.c.queue, t.batch.c.id == t.request_batch.c.batch_id
        ),
    )
    .where(
        t.request_batch.c.queue == sa.bindparam("queue"),
        t.request_batch.c.request_id.in_(sa.bindparam("ids", expanding=True)),
        t.batch.c.state.not_in([s.value for s in BatchState if is_terminal(s)]),
    )
)
"""The live batches holding some of a queue's requests, with the request each holds."""
_NOT_CARRYING = frozenset(
    {BatchState.CREATING.value} | {s.value for s in BatchState if is_terminal(s)}
)
_REQUESTS = sa.select(t.request).where(
    t.request.c.queue == sa.bindparam("queue"),
    t.request.c.id.in_(sa.bindparam("ids", expanding=True)),
)
_CLAIM = (
    sa.update(t.request)
    .where(
        t.request.c.queue == sa.bindparam("q"),
        t.request.c.id == sa.bindparam("r_id"),
        t.request.c.version == sa.bindparam("r_version"),
    )
    .values(state=RequestState.BATCHED.value, version=sa.bindparam("r_next"))
)


def _batch_cas(**values: Any) -> sa.Update:
    """A batch's compare-and-swap write: by queue, id and the version read; bumps the version."""
    return (
        sa.update(t.batch)
        .where(
            t.batch.c.queue == sa.bindparam("q"),
            t.batch.c.id == sa.bindparam("b_id"),
            t.batch.c.version == sa.bindparam("b_version"),
        )
        .values(**values, version=sa.bindparam("b_next"))
    )


_CREATE = _batch_cas(
    state=BatchState.CREATED.value,
    dependencies=sa.bindparam("b_deps", type_=sa.JSON),
    overtakes=sa.bindparam("b_ahead", type_=sa.JSON),
)
_END = _batch_cas(state=BatchState.CANCELLED.value)


class IntakeStore(SnapshotStore):
    counter: Counter

    def create_lone_batches(self, queue: str, requests: Sequence[Request]) -> list[Batch]:
        """A `creating` batch of its own for each of `requests`, with its association, numbered
        on from the queue's batch counter in their order, all in one transaction; a request a
        live batch already holds (the same message redelivered, or its window handled again one
        message at a time) gets that batch back, not a second one. Returns them in the order
        given."""
        if not requests:
            return []
        with self.engine.begin() as conn:
            held: dict[RequestID, Batch] = {}
            for chunk in chunks([r.id for r in requests]):
                for row in conn.execute(_LIVE_HOLDERS, {"queue": queue, "ids": list(chunk)}):
                    held.setdefault(RequestID(row.request_id), batch_of(row))
            new = [r for r in requests if r.id not in held]
            if new:
                first = self.counter.take(conn, queue, "batch", len(new))
                for n, r in enumerate(new):
                    held[r.id] = Batch(
                        id=batch_id(queue, first + n),
                        queue=queue,
                        contains=(r.id,),
                        priority=r.priority,
                    )
                created = [held[r.id] for r in new]
                conn.execute(ignoring_duplicates(conn, t.batch), [batch_row(b) for b in created])
                links = [
                    {"queue": queue, "request_id": b.contains[0], "batch_id": b.id} for b in created
                ]
                conn.execute(sa.insert(t.request_batch), links)
        return [held[r.id] for r in requests]

    def read_intake(self, queue: str) -> Intake:
        """The queue's `creating` batches and everything deciding them needs, in one transaction
        of a fixed number of statements (in chunks of `snapshot.CHUNK` keys)."""
        cache = self._parsed(queue)
        b, rb = t.batch.c, t.request_batch.c
        listing = sa.select(b.id, b.version).where(
            b.queue == queue, b.state.in_([s.value for s in DEPENDENCY_STATES])
        )
        with read_only(self.engine) as conn, conn.begin():
            creating = sorted(
                (
                    batch_of(row)
                    for row in conn.execute(
                        sa.select(t.batch).where(
                            b.queue == queue, b.state == BatchState.CREATING.value
                        )
                    )
                ),
                key=lambda x: number_of(x.id),
            )
            wanted = list(dict.fromkeys(r for x in creating for r in x.contains))
            if not creating:
                return Intake(
                    creating=(),
                    in_flight=(),
                    requests={},
                    carried=frozenset(),
                    associated=frozenset(),
                )
            found = versioned(
                conn, listing, t.batch, b.id, queue, cache.listed, batch_of, batch_version
            )
            requests: dict[RequestID, Request] = {}
            carried: set[RequestID] = set()
            ended: set[RequestID] = set()
            associated: set[tuple[RequestID, BatchID]] = set()
            for chunk in chunks(wanted):
                for row in conn.execute(_REQUESTS, {"queue": queue, "ids": list(chunk)}):
                    requests[RequestID(row.id)] = request_of(row)
                links = sa.select(rb.request_id, rb.batch_id, b.state).join(
                    t.batch, sa.and_(b.queue == rb.queue, b.id == rb.batch_id)
                )
                for row in conn.execute(links.where(rb.queue == queue, rb.request_id.in_(chunk))):
                    associated.add((RequestID(row.request_id), BatchID(row.batch_id)))
                    if row.state not in _NOT_CARRYING:
                        carried.add(RequestID(row.request_id))
                    elif row.state != BatchState.CREATING.value:
                        ended.add(RequestID(row.request_id))
        if len(cache.listed) > LISTED_KEPT + len(found):
            cache.listed = {}
        cache.listed |= found
        return Intake(
            creating=tuple(creating),
            in_flight=tuple(sorted(found.values(), key=lambda x: number_of(x.id))),
            requests=requests,
            carried=frozenset(carried),
            associated=frozenset(associated),
            ended=frozenset(ended),
        )

    def create_batches(
        self,
        queue: str,
        creations: Sequence[Creation],
        associated: frozenset[tuple[RequestID, BatchID]] = frozenset(),
        ended: Sequence[Batch] = (),
    ) -> list[Batch]:
        """Claim the requests, associate them and move each batch to `created`, and each of
        `ended` (`creating` batches whose requests all ended) to `cancelled`, in one transaction;
        all or nothing: `VersionMismatchError` when any row changed since it was read (nothing is
        written). `associated` are associations already stored (not inserted again). Returns the
        created batches, in the order given."""
        if not creations and not ended:
            return []
        claims = [
            {"q": queue, "r_id": r.id, "r_version": r.version, "r_next": r.version + 1}
            for c in creations
            for r in c.requests
            if r.state is RequestState.VALIDATED
        ]
        links = [
            {"queue": queue, "request_id": r.id, "batch_id": c.batch.id}
            for c in creations
            for r in c.requests
            if (r.id, c.batch.id) not in associated
        ]
        batches = [
            {
                "q": queue,
                "b_id": c.batch.id,
                "b_version": c.batch.version,
                "b_next": c.batch.version + 1,
                "b_deps": list(c.dependencies),
                "b_ahead": list(c.overtakes),
            }
            for c in creations
        ]
        ends = [
            {"q": queue, "b_id": b.id, "b_version": b.version, "b_next": b.version + 1}
            for b in ended
        ]
        with self.engine.begin() as conn:
            if claims and conn.execute(_CLAIM, claims).rowcount != len(claims):
                raise VersionMismatchError("a request changed under the burst")
            if links:
                conn.execute(sa.insert(t.request_batch), links)
            if batches and conn.execute(_CREATE, batches).rowcount != len(batches):
                raise VersionMismatchError("a batch changed under the burst")
            if ends and conn.execute(_END, ends).rowcount != len(ends):
                raise VersionMismatchError("an ended batch changed under the burst")
        return [
            Batch(
                id=c.batch.id,
                queue=c.batch.queue,
                contains=c.batch.contains,
                dependencies=c.dependencies,
                state=BatchState.CREATED,
                version=c.batch.version + 1,
                priority=c.batch.priority,
                overtakes=c.overtakes,
            )
            for c in creations
        ]

    def requests_of(self, queue: str, request_ids: Sequence[str]) -> dict[RequestID, Request]:
        """The requests of those ids that exist, in one statement per `snapshot.CHUNK` ids."""
        found: dict[RequestID, Request] = {}
        with read_only(self.engine) as conn:
            for chunk in chunks(list(dict.fromkeys(request_ids))):
                for row in conn.execute(_REQUESTS, {"queue": queue, "ids": list(chunk)}):
                    found[RequestID(row.id)] = request_of(row)
        return found
