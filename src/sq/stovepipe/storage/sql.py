"""The five stores of spec §3.3 over SQLAlchemy Core, with phase 2's stores, the build runs and
the reads."""

from __future__ import annotations

from dataclasses import replace

import sqlalchemy as sa

from sq.stovepipe.entity import Build, Queue, Request, ValidationFact, request_number
from sq.stovepipe.storage.base import AlreadyExistsError, NotFoundError, columns
from sq.stovepipe.storage.projects import ProjectStores
from sq.stovepipe.storage.reads import Reads
from sq.stovepipe.storage.rows import build_of, fact_of, queue_of, request_of
from sq.stovepipe.storage.runs import BuildRunStores
from sq.stovepipe.storage.schema import builds, facts, queues, request_uris, requests


class SqlStorage(ProjectStores, Reads, BuildRunStores):
    # --- queue -----------------------------------------------------------------------------------

    def get_queue(self, name: str) -> Queue:
        return queue_of(self._one(sa.select(queues).where(queues.c.name == name), f"queue {name}"))

    def create_queue(self, queue: Queue) -> Queue:
        values = {c: getattr(queue, c) for c in columns(queues)}
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
        values = {c: getattr(queue, c) for c in columns(queues) if c not in ("name", "version")}
        self._cas(queues, {"name": queue.name}, queue.version, values)
        return replace(queue, version=queue.version + 1)

    # --- request ---------------------------------------------------------------------------------

    def get_request(self, queue: str, rid: str) -> Request:
        query = sa.select(requests).where(requests.c.queue == queue, requests.c.id == rid)
        return request_of(self._one(query, f"request {rid}"))

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
        return build_of(self._one(query, f"build {bid}"))

    def create_build(self, build: Build) -> Build:
        values = {c: getattr(build, c) for c in columns(builds)}
        values.update(status=str(build.status), failure_reason=str(build.failure_reason))
        self._insert(builds, values, f"build {build.id}")
        return build

    def update_build(self, build: Build) -> Build:
        """Writes the status and the failure reason that comes with it."""
        keys = {"queue": build.queue, "id": build.id}
        values = {"status": str(build.status), "failure_reason": str(build.failure_reason)}
        self._cas(builds, keys, build.version, values)
        return replace(build, version=build.version + 1)

    # --- validation facts ------------------------------------------------------------------------

    def get_fact(self, queue: str, uri: str, project: str = "") -> ValidationFact:
        query = sa.select(facts).where(
            facts.c.queue == queue, facts.c.uri == uri, facts.c.project == project
        )
        return fact_of(self._one(query, f"fact {uri} {project!r}"))

    def create_fact(self, fact: ValidationFact) -> ValidationFact:
        """Create-only: AlreadyExistsError leaves the stored fact untouched (first fact wins)."""
        values = {c: getattr(fact, c) for c in columns(facts)}
        self._insert(facts, values, f"fact {fact.uri} {fact.project!r}")
        return fact
