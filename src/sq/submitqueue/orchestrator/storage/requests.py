"""Requests, cancel intents and change claims."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine

from sq.platform.db import read_only
from sq.platform.errs import VersionMismatchError
from sq.submitqueue.entity.batch import Priority, RequestID
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request, RequestState
from sq.submitqueue.orchestrator.storage import tables as t


class AlreadyExistsError(Exception):
    """A create found the row already there (a redelivery, usually: callers decide)."""


def insert_or_exists(engine: Engine, table: sa.Table, **values: Any) -> bool:
    """Insert a row; False when its key was already taken."""
    try:
        with engine.begin() as conn:
            conn.execute(sa.insert(table).values(**values))
    except sa_exc.IntegrityError:
        return False
    return True


def details_json(info: ChangeInfo) -> dict[str, Any]:
    return {
        "author": info.author,
        "commits": list(info.commits),
        "files": [dataclasses.asdict(f) for f in info.files],
    }


def details_of(uri: str, raw: dict[str, Any]) -> ChangeInfo:
    return ChangeInfo(
        uri=uri,
        author=str(raw.get("author", "")),
        commits=tuple(raw.get("commits", ())),
        files=tuple(ChangedFile(**f) for f in raw.get("files", ())),
    )


def request_of(row: Any) -> Request:
    return Request(
        id=RequestID(row.id),
        queue=row.queue,
        uris=tuple(row.uris),
        strategy=row.strategy,
        state=RequestState(row.state),
        version=row.version,
        priority=Priority(row.priority),
    )


_URIS = sa.select(t.request.c.id, t.request.c.uris).where(
    t.request.c.queue == sa.bindparam("queue"),
    t.request.c.id.in_(sa.bindparam("ids", expanding=True)),
)
_CLAIMS = sa.select(t.change.c.request_id, t.change.c.uri, t.change.c.details).where(
    t.change.c.queue == sa.bindparam("queue"),
    t.change.c.request_id.in_(sa.bindparam("ids", expanding=True)),
)


class RequestStore:
    engine: Engine

    def create_request(self, request: Request) -> bool:
        """Store a new request; False when it already exists."""
        return insert_or_exists(
            self.engine,
            t.request,
            queue=request.queue,
            id=request.id,
            uris=list(request.uris),
            strategy=request.strategy,
            state=request.state.value,
            version=request.version,
            priority=request.priority.value,
        )

    def get_request(self, queue: str, request_id: str) -> Request | None:
        r = t.request.c
        with read_only(self.engine) as conn:
            row = conn.execute(
                sa.select(t.request).where(r.queue == queue, r.id == request_id)
            ).one_or_none()
        return None if row is None else request_of(row)

    def get_requests(self, queue: str, request_ids: Sequence[str]) -> dict[str, Request]:
        """Those of `request_ids` that exist, in one statement."""
        wanted = list(dict.fromkeys(request_ids))
        if not wanted:
            return {}
        r = t.request.c
        query = sa.select(t.request).where(r.queue == queue, r.id.in_(wanted))
        with read_only(self.engine) as conn:
            return {row.id: request_of(row) for row in conn.execute(query)}

    def update_request(self, request: Request, state: RequestState) -> Request:
        """CAS the request to `state`; returns the new version of it."""
        r = t.request.c
        with self.engine.begin() as conn:
            done = conn.execute(
                sa.update(t.request)
                .where(r.queue == request.queue, r.id == request.id, r.version == request.version)
                .values(state=state.value, version=request.version + 1)
            )
        if done.rowcount != 1:
            raise VersionMismatchError(f"request {request.id} changed under us")
        return dataclasses.replace(request, state=state, version=request.version + 1)

    def put_cancel_intent(self, queue: str, request_id: str, reason: str) -> None:
        insert_or_exists(
            self.engine, t.cancel_intent, queue=queue, request_id=request_id, reason=reason
        )

    def cancel_intent(self, queue: str, request_id: str) -> str | None:
        c = t.cancel_intent.c
        with read_only(self.engine) as conn:
            reason = conn.execute(
                sa.select(c.reason).where(c.queue == queue, c.request_id == request_id)
            ).scalar_one_or_none()
        return None if reason is None else str(reason)

    def claim_changes(self, request: Request, infos: list[ChangeInfo]) -> None:
        """Record which request owns each change (idempotent)."""
        for info in infos:
            insert_or_exists(
                self.engine,
                t.change,
                queue=request.queue,
                uri=info.uri,
                request_id=request.id,
                details=details_json(info),
            )

    def claimants(self, queue: str, uri: str) -> list[str]:
        c = t.change.c
        with read_only(self.engine) as conn:
            rows = conn.execute(
                sa.select(c.request_id).where(c.queue == queue, c.uri == uri).order_by(c.request_id)
            )
            return [str(x) for x in rows.scalars()]

    def claimed_changes(self, queue: str, request_ids: Sequence[str]) -> list[ChangeInfo] | None:
        """The claimed details of every change of the given requests, in request and URI order;
        None unless every URI of every one of them (all of them existing) has been claimed."""
        ids = {"queue": queue, "ids": list(request_ids)}
        with read_only(self.engine) as conn:
            uris = {row.id: row.uris for row in conn.execute(_URIS, ids)}
            claimed = {(row.request_id, row.uri): row.details for row in conn.execute(_CLAIMS, ids)}
        wanted = [(r, uri) for r in request_ids for uri in uris.get(r, ())]
        if len(uris) != len(set(request_ids)) or any(key not in claimed for key in wanted):
            return None
        return [details_of(uri, claimed[(r, uri)]) for r, uri in wanted]

    def changes_of_requests(
        self, queue: str, request_ids: Sequence[str]
    ) -> dict[str, list[ChangeInfo]]:
        """`changes_of` for many requests in two statements, keyed by request id (those that
        exist); unclaimed URIs are bare."""
        ids = {"queue": queue, "ids": list(dict.fromkeys(request_ids))}
        if not ids["ids"]:
            return {}
        with read_only(self.engine) as conn:
            uris = {row.id: row.uris for row in conn.execute(_URIS, ids)}
            claimed = {(row.request_id, row.uri): row.details for row in conn.execute(_CLAIMS, ids)}
        return {
            r: [
                details_of(uri, claimed[(r, uri)]) if (r, uri) in claimed else ChangeInfo(uri=uri)
                for uri in uris[r]
            ]
            for r in ids["ids"]
            if r in uris
        }

    def changes_of(self, request: Request) -> list[ChangeInfo]:
        """The claimed details of each URI of `request`, in its order (missing ones are bare)."""
        c = t.change.c
        with read_only(self.engine) as conn:
            rows = conn.execute(
                sa.select(c.uri, c.details).where(
                    c.queue == request.queue, c.request_id == request.id
                )
            ).all()
        found = {row.uri: details_of(row.uri, row.details) for row in rows}
        return [found.get(uri) or ChangeInfo(uri=uri) for uri in request.uris]
