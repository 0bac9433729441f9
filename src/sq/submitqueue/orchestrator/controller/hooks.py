"""SubmitQueue's hook events: a request reached a terminal state (landed, failed, cancelled).

The id is derived from the request's version after the transition, so a redelivered conclude,
cancel or reconcile republishes the same id and the queue dedups it.
"""

from __future__ import annotations

from collections.abc import Mapping

from sq.platform.hooks import new_event, publish_hook
from sq.platform.pipeline import StageContext
from sq.submitqueue.entity.request import Request, RequestState
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

SOURCE = "submitqueue"

EVENT_TYPES = {
    RequestState.LANDED: "request.landed",
    RequestState.ERROR: "request.failed",
    RequestState.CANCELLED: "request.cancelled",
}


async def publish_request_hook(
    ctx: StageContext,
    deps: OrchestratorDeps,
    request: Request,
    *,
    reason: str = "",
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Publish the hook event of a request that is now terminal; other states publish nothing."""
    type_ = EVENT_TYPES.get(request.state)
    if type_ is None:
        return
    facts: dict[str, object] = {
        "queue": request.queue,
        "change_uris": list(request.uris),
        "reason": reason,
    }
    batch_id = (metadata or {}).get("batch_id")
    if batch_id:
        facts["batch_id"] = batch_id
    event = new_event(
        SOURCE,
        type_,
        request.id,
        timestamp_ms=deps.clock.now_ms(),
        version=request.version,
        facts=facts,
    )
    await publish_hook(ctx, event)
