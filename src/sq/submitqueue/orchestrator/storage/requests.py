"""Requests, cancel intents and change claims."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

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


def ignoring_duplicates(conn: Connection, table: sa.Table) -> sa.Insert:
    """An insert, for `executemany`, that skips each row whose key is already taken."""
    return _IGNORING[conn.dialect.name == "sqlite"][table.name]


_IGNORING: dict[bool, dict[str, sa.Insert]] = {
    on_sqlite: {
        table.name: dialect.insert(table).on_conflict_do_nothing()
        for table in (t.request, t.change, t.batch, t.batch_arrival)
    }
    for on_sqlite, dialect in ((True, sqlite), (False, postgresql))
}
_INTENTS = sa.select(t.cancel_intent.c.request_id, t.cancel_intent.c.reason).where(
    t.cancel_intent.c.queue == sa.bindparam("queue"),
    t.cancel_intent.c.request_id.in_(sa.bindparam("ids", expanding=True)),
)
_CLAIMANTS = (
    sa.select(t.change.c.uri, t.change.c.request_id, t.request.c.state)
    .select_from(
        t.change.outerjoin(
            t.request,
            sa.and_(t.request.c.queue == t.change.c.queue, t.request.c.id == t.change.c.request_id),
        )
    )
    .where(
        t.change.c.queue == sa.bindparam("queue"),
        t.change.c.uri.in_(sa.bindparam("uris", expanding=True)),
    )
    .order_by(t.change.c.uri, t.change.c.request_id)
)
_ADVANCE = (
    sa.update(t.request)
    .where(
        t.request.c.queue == sa.bindparam("q"),
        t.request.c.id == sa.bindparam("r_id"),
        t.request.c.version == sa.bindparam("r_version"),
    )
    .values(state=sa.bindparam("r_state"), version=sa.bindparam("r_next"))
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

    def create_requests(self, requests: Sequence[Request]) -> None:
        """`create_request` for each, in one transaction: one already there is left as it is."""
        if not requests:
            return
        rows = [
            {
                "queue": r.queue,
                "id": r.id,
                "uris": list(r.uris),
                "strategy": r.strategy,
                "state": r.state.value,
                "version": r.version,
                "priority": r.priority.value,
            }
            for r in requests
        ]
        with self.engine.begin() as conn:
            conn.execute(ignoring_duplicates(conn, t.request), rows)

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

    def cancel_intents(self, queue: str, request_ids: Sequence[str]) -> dict[str, str]:
        """The cancel reason of each of `request_ids` that has an intent, in one statement."""
        wanted = list(dict.fromkeys(request_ids))
        if not wanted:
            return {}
        with read_only(self.engine) as conn:
            rows = conn.execute(_INTENTS, {"queue": queue, "ids": wanted})
            return {str(row.request_id): str(row.reason) for row in rows}

    def advance_requests(self, moves: Sequence[tuple[Request, RequestState]]) -> list[Request]:
        """`update_request` for each (request, target state), in one transaction; all or nothing:
        `VersionMismatchError` when any of them changed since it was read."""
        if not moves:
            return []
        rows = [
            {
                "q": r.queue,
                "r_id": r.id,
                "r_version": r.version,
                "r_state": state.value,
                "r_next": r.version + 1,
            }
            for r, state in moves
        ]
        with self.engine.begin() as conn:
            if conn.execute(_ADVANCE, rows).rowcount != len(rows):
                raise VersionMismatchError("a request changed under the window")
        return [dataclasses.replace(r, state=s, version=r.version + 1) for r, s in moves]

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

    def claim_changes_of(self, claims: Sequence[tuple[Request, Sequence[ChangeInfo]]]) -> None:
        """`claim_changes` for each (request, changes), in one transaction (idempotent)."""
        rows = [
            {
                "queue": request.queue,
                "uri": info.uri,
                "request_id": request.id,
                "details": details_json(info),
            }
            for request, infos in claims
            for info in infos
        ]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(ignoring_duplicates(conn, t.change), rows)

    def claimants_of(
        self, queue: str, uris: Sequence[str]
    ) -> dict[str, list[tuple[str, RequestState | None]]]:
        """`claimants` of each of `uris` (those claimed), each with the state of its request
        (None for one not found), in one statement."""
        wanted = list(dict.fromkeys(uris))
        found: dict[str, list[tuple[str, RequestState | None]]] = {}
        if not wanted:
            return found
        with read_only(self.engine) as conn:
            for row in conn.execute(_CLAIMANTS, {"queue": queue, "uris": wanted}):
                state = None if row.state is None else RequestState(row.state)
                found.setdefault(str(row.uri), []).append((str(row.request_id), state))
        return found

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
