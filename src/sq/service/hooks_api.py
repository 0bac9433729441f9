"""`/api/v1/hooks`: the undeliverable hook events of every domain in this process, and replay.

`GET /api/v1/hooks/undeliverable[?source=&limit=]` answers a JSON list, newest first.
`POST /api/v1/hooks/replay {"event_id": …}` republishes one recorded event (same event id) and
removes it from the list; it needs the admin scope once tokens are configured. Event ids contain
`/` and `%`, so they travel in the body, not the path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from sq.platform.hooks import (
    HookStore,
    MalformedHookEventError,
    UndeliverableEvent,
    replay_undeliverable,
)
from sq.platform.messagequeue import MessageQueue
from sq.service.access import ADMIN_ONLY
from sq.service.http import ApiError

PREFIX = "/api/v1/hooks"


@dataclass(frozen=True, slots=True, kw_only=True)
class HookEndpoint:
    source: str
    store: HookStore
    queue: MessageQueue
    topic: str


class HookRegistry:
    """Every domain's hook store in this process, by source."""

    def __init__(self) -> None:
        self.endpoints: dict[str, HookEndpoint] = {}

    def add(self, endpoint: HookEndpoint) -> None:
        self.endpoints[endpoint.source] = endpoint

    def stores(self) -> list[HookStore]:
        unique: dict[int, HookStore] = {}
        for endpoint in self.endpoints.values():
            unique.setdefault(id(endpoint.store), endpoint.store)
        return list(unique.values())


class ReplayBody(BaseModel):
    event_id: str = Field(min_length=1, max_length=255)


def record_json(record: UndeliverableEvent) -> dict[str, Any]:
    body = record.to_dict()
    with contextlib.suppress(ValueError):
        body["event"] = json.loads(record.event)
    return body


def hooks_router(registry: HookRegistry) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["hooks"])

    @api.get("/undeliverable")
    async def undeliverable(
        source: Annotated[str | None, Query(min_length=1, max_length=255)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 500,
    ) -> list[dict[str, Any]]:
        if source is not None and source not in registry.endpoints:
            raise ApiError(404, "unknown_source", f"no hooks for source {source!r} here")
        found: dict[str, UndeliverableEvent] = {}
        for store in registry.stores():
            for record in await asyncio.to_thread(store.undeliverable, source, limit):
                found[record.event_id] = record
        rows = sorted(found.values(), key=lambda r: (r.recorded_at_ms, r.event_id), reverse=True)
        return [record_json(r) for r in rows[:limit]]

    @api.post("/replay", openapi_extra=ADMIN_ONLY)
    async def replay(body: ReplayBody) -> dict[str, Any]:
        for endpoint in registry.endpoints.values():
            record = await asyncio.to_thread(endpoint.store.get_undeliverable, body.event_id)
            if record is None or record.source not in ("", endpoint.source):
                continue
            try:
                event = await replay_undeliverable(
                    endpoint.store, endpoint.queue, endpoint.topic, body.event_id
                )
            except MalformedHookEventError as exc:
                raise ApiError(422, "not_replayable", str(exc)) from exc
            return {"event_id": event.id, "source": event.source, "topic": endpoint.topic}
        raise ApiError(404, "not_found", f"no undeliverable hook event {body.event_id!r}")

    return api
