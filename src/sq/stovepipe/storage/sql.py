"""The five stores of spec §3.3 over SQLAlchemy Core, plus the reads behind the query API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from sq.platform.errs import VersionMismatchError
from sq.stovepipe.entity import (
    Build,
    BuildStatus,
    BuildStrategy,
    FailureReason,
    Queue,
    Request,
    RequestState,
    ValidationFact,
    request_number,
)
from sq.stovepipe.storage.schema import builds, facts, queues, request_uris, requests


class NotFoundError(LookupError):
    pass


class AlreadyExistsError(Exception):
    pass


def _columns(table: sa.Table) -> list[str]:
    return [c.name for c in table.columns]


def _queue(row: sa.RowMapping) -> Queue:
    return Queue(**{k: row[k] for k in _columns(queues)})


def _request(row: sa.RowMapping) -> Request:
    return Request(
        id=row["id"],
        queue=row["queue"],
        uri=row["uri"],
        state=RequestState(row["state"]),
        build_strategy=BuildStrategy(row["build_strategy"]),
        base_uri=row["base_uri"],
        failure_reason=FailureReason(row["failure_reason"]),
        created_at_ms=row["created_at_ms"],
        version=row["version"],
    )


def _build(row: sa.RowMapping) -> Build:
    return Build(
        id=row["id"],
        queue=row["queue"],
        request_id=row["request_id"],
        status=BuildStatus(row["status"]),
        created_at_ms=row["created_at_ms"],
        version=row["version"],
    )


def _fact(row: sa.RowMapping) -> ValidationFact:
    return ValidationFact(**{k: row[k] for k in _columns(facts)})


class SqlStorage:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # --- helpers ---------------------------------------------------------------------------------

    def _one(self, query: sa.Select[Any], what: str) -> sa.RowMapping:
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            raise NotFoundError(what)
        return row

    def _insert(self, table: sa.Table, values: Mapping[str, Any], what: str) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(table.insert().values(**values))
        except sa.exc.IntegrityError as exc:
            raise AlreadyExistsError(what) from exc

    def _cas(
        self, table: sa.Table, keys: Mapping[str, Any], expected: int, values: Mapping[str, Any]
    ) -> None:
        where = [table.c[k] == v for k, v in keys.items()] + [table.c.version == expected]
        stmt = table.update().where(*where).values(**values, version=expected + 1)
        with self.engine.begin() as conn:
            if conn.execute(stmt).rowcount != 1:
                raise VersionMismatchError(f"{table.name} {dict(keys)} is not at v{expected}")

    # --- queue -----------------------------------------------------------------------------------

    def get_queue(self, name: str) -> Queue:
        return _queue(self._one(sa.select(queues).where(queues.c.name == name), f"queue {name}"))

    def create_queue(self, queue: Queue) -> Queue:
        values = {c: getattr(queue, c) for c in _columns(queues)}
        self._insert(queues, values, f"queue {queue.name}")
        return queue

    def get_or_create_queue(self, name: str) -> Queue:
        try:
            return self.get_queue(name)
        except NotFoundError:
            pass
        try:
            return self.create_queue(Queue(name=name))
        except AlreadyExistsError:
            return self.get_queue(name)

    def update_queue(self, queue: Queue) -> Queue:
        """Write `queue` over the row at `queue.version`; returns it at the next version."""
        values = {c: getattr(queue, c) for c in _columns(queues) if c not in ("name", "version")}
        self._cas(queues, {"name": queue.name}, queue.version, values)
        return replace(queue, version=queue.version + 1)

    # --- request ---------------------------------------------------------------------------------

    def get_request(self, queue: str, rid: str) -> Request:
        query = sa.select(requests).where(requests.c.queue == queue, requests.c.id == rid)
        return _request(self._one(query, f"request {rid}"))

    def create_request(self, request: Request) -> Request:
        values = {
            "queue": request.queue,
            "id": request.id,
            "seq": request_number(request.queue, request.id),
            "uri": request.uri,
            "state": str(request.state),
            "build_strategy": str(request.build_strategy),
            "base_uri": request.base_uri,
            "failure_reason": str(request.failure_reason),
            "created_at_ms": request.created_at_ms,
            "version": request.version,
        }
        self._insert(requests, values, f"request {request.id}")
        return request

    def update_request(self, request: Request) -> Request:
        values = {
            "state": str(request.state),
            "build_strategy": str(request.build_strategy),
            "base_uri": request.base_uri,
            "failure_reason": str(request.failure_reason),
        }
        keys = {"queue": request.queue, "id": request.id}
        self._cas(requests, keys, request.version, values)
        return replace(request, version=request.version + 1)

    # --- request uri -----------------------------------------------------------------------------

    def get_request_id_by_uri(self, queue: str, uri: str) -> str:
        query = sa.select(request_uris.c.request_id).where(
            request_uris.c.queue == queue, request_uris.c.uri == uri
        )
        return str(self._one(query, f"uri {uri}")["request_id"])

    def create_request_uri(self, queue: str, uri: str, rid: str) -> None:
        values = {"queue": queue, "uri": uri, "request_id": rid}
        self._insert(request_uris, values, f"uri {uri}")

    # --- build -----------------------------------------------------------------------------------

    def get_build(self, queue: str, bid: str) -> Build:
        query = sa.select(builds).where(builds.c.queue == queue, builds.c.id == bid)
        return _build(self._one(query, f"build {bid}"))

    def create_build(self, build: Build) -> Build:
        values = {c: getattr(build, c) for c in _columns(builds)}
        values["status"] = str(build.status)
        self._insert(builds, values, f"build {build.id}")
        return build

    def update_build(self, build: Build) -> Build:
        keys = {"queue": build.queue, "id": build.id}
        self._cas(builds, keys, build.version, {"status": str(build.status)})
        return replace(build, version=build.version + 1)

    # --- validation facts ------------------------------------------------------------------------

    def get_fact(self, queue: str, uri: str, project: str = "") -> ValidationFact:
        query = sa.select(facts).where(
            facts.c.queue == queue, facts.c.uri == uri, facts.c.project == project
        )
        return _fact(self._one(query, f"fact {uri} {project!r}"))

    def create_fact(self, fact: ValidationFact) -> ValidationFact:
        """Create-only: AlreadyExistsError leaves the stored fact untouched (first fact wins)."""
        values = {c: getattr(fact, c) for c in _columns(facts)}
        self._insert(facts, values, f"fact {fact.uri} {fact.project!r}")
        return fact

    # --- reads for the query API (not used by controllers) ---------------------------------------

    def recent_requests(
        self, queue: str, limit: int, *, before_seq: int | None = None
    ) -> list[Request]:
        query = sa.select(requests).where(requests.c.queue == queue)
        if before_seq is not None:
            query = query.where(requests.c.seq < before_seq)
        query = query.order_by(requests.c.seq.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_request(r) for r in conn.execute(query).mappings()]

    def requests_in_state(self, queue: str, state: RequestState) -> list[Request]:
        query = (
            sa.select(requests)
            .where(requests.c.queue == queue, requests.c.state == str(state))
            .order_by(requests.c.seq)
        )
        with self.engine.connect() as conn:
            return [_request(r) for r in conn.execute(query).mappings()]

    def facts_for(self, queue: str, uris: list[str]) -> dict[str, ValidationFact]:
        if not uris:
            return {}
        query = sa.select(facts).where(
            facts.c.queue == queue, facts.c.project == "", facts.c.uri.in_(uris)
        )
        with self.engine.connect() as conn:
            return {r["uri"]: _fact(r) for r in conn.execute(query).mappings()}

    def fact_count(self, queue: str) -> int:
        query = sa.select(sa.func.count()).select_from(facts).where(facts.c.queue == queue)
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())
