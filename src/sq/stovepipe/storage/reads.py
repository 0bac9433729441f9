"""Reads behind the query API and the analysis: lists and joins the controllers' key/value
stores do not offer."""

from __future__ import annotations

import sqlalchemy as sa

from sq.platform.db import read_only
from sq.stovepipe.entity import Request, RequestState, ValidationFact
from sq.stovepipe.storage.base import SqlBase
from sq.stovepipe.storage.rows import fact_of, request_of
from sq.stovepipe.storage.schema import facts, requests


class Reads(SqlBase):
    def recent_requests(
        self, queue: str, limit: int, *, before_seq: int | None = None
    ) -> list[Request]:
        query = sa.select(requests).where(requests.c.queue == queue)
        if before_seq is not None:
            query = query.where(requests.c.seq < before_seq)
        query = query.order_by(requests.c.seq.desc()).limit(limit)
        return [request_of(r) for r in self._all(query)]

    def requests_in_state(self, queue: str, state: RequestState) -> list[Request]:
        query = (
            sa.select(requests)
            .where(requests.c.queue == queue, requests.c.state == str(state))
            .order_by(requests.c.seq)
        )
        return [request_of(r) for r in self._all(query)]

    def facts_for(
        self, queue: str, uris: list[str], project: str = ""
    ) -> dict[str, ValidationFact]:
        if not uris:
            return {}
        query = sa.select(facts).where(
            facts.c.queue == queue, facts.c.project == project, facts.c.uri.in_(uris)
        )
        return {r["uri"]: fact_of(r) for r in self._all(query)}

    def facts_at(self, queue: str, uri: str) -> dict[str, ValidationFact]:
        """Every fact at `uri`, by project (`""` is the whole repository)."""
        query = sa.select(facts).where(facts.c.queue == queue, facts.c.uri == uri)
        return {r["project"]: fact_of(r) for r in self._all(query)}

    def project_facts(
        self, queue: str, project: str, limit: int, *, before_seq: int | None = None
    ) -> list[tuple[ValidationFact, Request]]:
        """A project's facts with the requests that established them, newest request first."""
        joined = facts.join(
            requests, (requests.c.queue == facts.c.queue) & (requests.c.id == facts.c.request_id)
        )
        query = (
            sa.select(*facts.c, *[c.label(f"r_{c.name}") for c in requests.c])
            .select_from(joined)
            .where(facts.c.queue == queue, facts.c.project == project)
        )
        if before_seq is not None:
            query = query.where(requests.c.seq < before_seq)
        query = query.order_by(requests.c.seq.desc()).limit(limit)
        out = []
        for row in self._all(query):
            request_row = {c.name: row[f"r_{c.name}"] for c in requests.c}
            out.append((fact_of(row), request_of(request_row)))
        return out

    def fact_count(self, queue: str, project: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(facts).where(facts.c.queue == queue)
        if project is not None:
            query = query.where(facts.c.project == project)
        with read_only(self.engine) as conn:
            return int(conn.execute(query).scalar_one())
