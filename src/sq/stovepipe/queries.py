"""Read APIs (spec §8.25): last green, greenness of a commit, and the request history.

"No fact" is always reported distinctly from green: a commit nobody validated is not green.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass

from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import Request, RequestState, ValidationFact, request_number
from sq.stovepipe.storage import NotFoundError


class Greenness(enum.StrEnum):
    GREEN = "green"
    BROKEN = "broken"
    NOT_RECORDED = "not_recorded"


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestView:
    request: Request
    fact: ValidationFact | None

    def as_dict(self) -> dict[str, object]:
        r = self.request
        return {
            "id": r.id,
            "uri": r.uri,
            "state": str(r.state),
            "build_strategy": str(r.build_strategy),
            "base_uri": r.base_uri,
            "failure_reason": str(r.failure_reason),
            "created_at_ms": r.created_at_ms,
            "degree": None if self.fact is None else self.fact.degree,
        }


async def _views(deps: Deps, queue: str, requests: list[Request]) -> list[RequestView]:
    uris = [r.uri for r in requests]
    facts = await asyncio.to_thread(deps.storage.facts_for, queue, uris)
    views = []
    for r in requests:
        fact = facts.get(r.uri)
        views.append(
            RequestView(request=r, fact=fact if fact and fact.request_id == r.id else None)
        )
    return views


async def history(
    deps: Deps, queue: str, *, limit: int = 20, before: str | None = None
) -> list[dict[str, object]]:
    deps.queue(queue)
    before_seq = request_number(queue, before) if before else None
    requests = await asyncio.to_thread(
        lambda: deps.storage.recent_requests(queue, limit, before_seq=before_seq)
    )
    return [v.as_dict() for v in await _views(deps, queue, requests)]


async def status(deps: Deps, queue: str, *, recent: int = 10) -> dict[str, object]:
    deps.queue(queue)
    try:
        row = await asyncio.to_thread(deps.storage.get_queue, queue)
    except NotFoundError:
        row = None
    in_flight = await asyncio.to_thread(
        deps.storage.requests_in_state, queue, RequestState.PROCESSING
    )
    return {
        "queue": queue,
        "last_green_uri": row.last_green_uri if row else "",
        "last_green_request_id": row.last_green_request_id if row else "",
        "latest_request_id": row.latest_request_id if row else "",
        "in_flight_count": row.in_flight_count if row else 0,
        "in_flight": [r.id for r in in_flight],
        "recent": await history(deps, queue, limit=recent),
    }


async def greenness(deps: Deps, queue: str, commit: str) -> dict[str, object]:
    """Raises UnknownQueueError, or the SourceControl's InvalidURIError for malformed input."""
    deps.queue(queue)
    uri = deps.source_control.for_queue(queue).normalize(commit)
    try:
        fact = await asyncio.to_thread(deps.storage.get_fact, queue, uri)
    except NotFoundError:
        return {"queue": queue, "uri": uri, "state": str(Greenness.NOT_RECORDED)}
    state = Greenness.GREEN if fact.is_green else Greenness.BROKEN
    request = await asyncio.to_thread(deps.storage.get_request, queue, fact.request_id)
    return {
        "queue": queue,
        "uri": uri,
        "state": str(state),
        "degree": fact.degree,
        "request_id": fact.request_id,
        "failure_reason": str(request.failure_reason),
        "recorded_at_ms": fact.created_at_ms,
    }
