"""Read APIs (spec §8.25): last green, greenness of a commit (whole repository or one project),
and the request and per-project histories.

"No fact" is always reported distinctly from green: a commit nobody validated is not green.
"""

from __future__ import annotations

import asyncio
import enum
from typing import Any

from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import Request, RequestState, ValidationFact, request_number
from sq.stovepipe.extension.sourcecontrol import SourceControlError
from sq.stovepipe.storage import NotFoundError


class Greenness(enum.StrEnum):
    GREEN = "green"
    BROKEN = "broken"
    NOT_RECORDED = "not_recorded"


def request_view(r: Request, fact: ValidationFact | None) -> dict[str, Any]:
    return {
        "id": r.id,
        "uri": r.uri,
        "state": str(r.state),
        "build_strategy": str(r.build_strategy),
        "base_uri": r.base_uri,
        "failure_reason": str(r.failure_reason),
        "created_at_ms": r.created_at_ms,
        "degree": None if fact is None else fact.degree,
    }


async def history(
    deps: Deps, queue: str, *, limit: int = 20, before: str | None = None, project: str = ""
) -> list[dict[str, Any]]:
    """Requests newest first with their fact; for a project, only the commits it has a fact at."""
    setup = deps.queue(queue)
    before_seq = request_number(queue, before) if before else None
    if project:
        setup.project(project)
        rows = await asyncio.to_thread(
            lambda: deps.storage.project_facts(queue, project, limit, before_seq=before_seq)
        )
        return [{**request_view(r, f), "project": project} for f, r in rows]
    requests = await asyncio.to_thread(
        lambda: deps.storage.recent_requests(queue, limit, before_seq=before_seq)
    )
    facts = await asyncio.to_thread(deps.storage.facts_for, queue, [r.uri for r in requests])
    views = []
    for r in requests:
        fact = facts.get(r.uri)
        views.append(request_view(r, fact if fact and fact.request_id == r.id else None))
    return views


async def promotion(deps: Deps, queue: str, project: str = "") -> dict[str, Any]:
    """The promotion ref's live value, read through SourceControl now (`uri` None: unset)."""
    sc = deps.source_control.for_queue(queue)
    try:
        found = await sc.promotion(project)
    except SourceControlError as exc:
        return {"promotion_ref": None, "promotion_uri": None, "promotion_error": str(exc)}
    if found is None:
        return {"promotion_ref": None, "promotion_uri": None}
    return {"promotion_ref": found.ref, "promotion_uri": found.uri or None}


async def project_status(deps: Deps, queue: str) -> list[dict[str, Any]]:
    setup = deps.queue(queue)
    heads = await asyncio.to_thread(deps.storage.project_heads, queue)
    out = []
    for p in setup.projects:
        head = heads.get(p.name)
        out.append(
            {
                "project": p.name,
                "last_green_uri": head.last_green_uri if head else "",
                "last_green_request_id": head.last_green_request_id if head else "",
                **await promotion(deps, queue, p.name),
            }
        )
    return out


async def status(deps: Deps, queue: str, *, recent: int = 10) -> dict[str, Any]:
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
        **await promotion(deps, queue),
        "projects": await project_status(deps, queue),
        "recent": await history(deps, queue, limit=recent),
    }


async def greenness(deps: Deps, queue: str, commit: str, project: str = "") -> dict[str, Any]:
    """Is the queue (or one project) green at `commit`? Raises UnknownQueueError,
    UnknownProjectError, or the SourceControl's InvalidURIError for malformed input."""
    setup = deps.queue(queue)
    if project:
        setup.project(project)
    uri = deps.source_control.for_queue(queue).normalize(commit)
    answer: dict[str, Any] = {"queue": queue, "project": project, "uri": uri}
    try:
        fact = await asyncio.to_thread(deps.storage.get_fact, queue, uri, project)
    except NotFoundError:
        return {**answer, "state": str(Greenness.NOT_RECORDED)}
    state = Greenness.GREEN if fact.is_green else Greenness.BROKEN
    request = await asyncio.to_thread(deps.storage.get_request, queue, fact.request_id)
    return {
        **answer,
        "state": str(state),
        "degree": fact.degree,
        "request_id": fact.request_id,
        "failure_reason": str(request.failure_reason),
        "recorded_at_ms": fact.created_at_ms,
    }


async def last_green(deps: Deps, queue: str, project: str = "") -> dict[str, Any]:
    """The newest commit where the queue (or one project) is green; `uri` empty: none yet."""
    setup = deps.queue(queue)
    answer: dict[str, Any] = {"queue": queue, "project": project}
    if project:
        setup.project(project)
        try:
            head = await asyncio.to_thread(deps.storage.get_project_head, queue, project)
        except NotFoundError:
            return {**answer, "uri": "", "request_id": ""}
        return {**answer, "uri": head.last_green_uri, "request_id": head.last_green_request_id}
    try:
        row = await asyncio.to_thread(deps.storage.get_queue, queue)
    except NotFoundError:
        return {**answer, "uri": "", "request_id": ""}
    return {**answer, "uri": row.last_green_uri, "request_id": row.last_green_request_id}
