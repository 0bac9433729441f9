"""Recording a verdict, shared by record, analyze and the reconcilers: the immutable fact (first
fact wins), its hook event, the forward-only bookmark and the promotion ref.

Each step recognises its own earlier run, so any of them may be replayed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

from sq.platform.pipeline import StageContext
from sq.stovepipe.controller.cas import swap
from sq.stovepipe.controller.common import InvariantError, log
from sq.stovepipe.controller.events import publish_fact_event, publish_promotion_event
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import (
    WHOLE_REPO,
    Queue,
    Request,
    ValidationFact,
    compare_request_ids,
)
from sq.stovepipe.entity.project import ProjectHead
from sq.stovepipe.extension.sourcecontrol import NotFoundError as ScNotFoundError
from sq.stovepipe.storage import AlreadyExistsError


async def record_fact(
    deps: Deps, ctx: StageContext, request: Request, degree: float, project: str = WHOLE_REPO
) -> ValidationFact:
    """The fact of `request` at its URI for `project`: created now, or adopted when an earlier
    delivery of the same request wrote it. Announced on every call (the event id dedups)."""
    fact = ValidationFact(
        queue=request.queue,
        uri=request.uri,
        project=project,
        degree=degree,
        request_id=request.id,
        created_at_ms=deps.clock.now_ms(),
    )
    store = deps.storage
    try:
        await asyncio.to_thread(store.create_fact, fact)
    except AlreadyExistsError:
        fact = await asyncio.to_thread(store.get_fact, request.queue, request.uri, project)
        if fact.request_id != request.id:
            raise InvariantError(
                f"{request.uri} {project!r} already has a fact from {fact.request_id}"
            ) from None
    await publish_fact_event(ctx, deps, fact)
    return fact


async def holds_bookmark(deps: Deps, request: Request) -> bool:
    """Advance the queue's last green to `request` unless a newer green holds it; whether
    `request` holds it now (spec §2.5 step 5)."""
    store = deps.storage
    return await _hold(
        request,
        f"queue {request.queue}",
        lambda: store.get_queue(request.queue),
        store.update_queue,
    )


async def holds_project_bookmark(deps: Deps, request: Request, project: str) -> bool:
    """The same rule for a project's own last green."""
    store = deps.storage
    return await _hold(
        request,
        f"project {project}",
        lambda: store.get_or_create_project_head(request.queue, project),
        store.update_project_head,
    )


Bookmark = TypeVar("Bookmark", Queue, ProjectHead)


async def _hold(
    request: Request,
    scope: str,
    load: Callable[[], Bookmark],
    write: Callable[[Bookmark], Bookmark],
) -> bool:
    async def advance(row: Bookmark) -> Bookmark | None:
        if _order(request, row.last_green_request_id) != 1:
            return None
        return replace(row, last_green_uri=request.uri, last_green_request_id=request.id)

    swapped = await swap(f"{scope}: advancing last green", load, advance, write)
    return swapped.changed or _order(request, swapped.row.last_green_request_id) == 0


def _order(request: Request, holder: str) -> int:
    """1: `request` is newer than the holder (or there is none); 0: it is the holder; -1: older."""
    if not holder:
        return 1
    return compare_request_ids(request.queue, request.id, holder)


async def promote(
    deps: Deps, ctx: StageContext, request: Request, project: str = WHOLE_REPO
) -> None:
    """Move the scope's promotion ref to the request's commit; announce a move."""
    sc = deps.source_control.for_queue(request.queue)
    try:
        promotion = await sc.promote(request.uri, project)
    except ScNotFoundError:
        log.warning("promotion skipped: commit left the ref", uri=request.uri, project=project)
        return
    if promotion is not None and promotion.moved:
        await publish_promotion_event(ctx, deps, request.queue, project, promotion)


async def record_project_verdict(
    deps: Deps, ctx: StageContext, request: Request, project: str, degree: float
) -> ValidationFact:
    """A project's fact; when green, its own last green and promotion ref follow."""
    fact = await record_fact(deps, ctx, request, degree, project)
    if fact.is_green and await holds_project_bookmark(deps, request, project):
        await promote(deps, ctx, request, project)
    return fact
