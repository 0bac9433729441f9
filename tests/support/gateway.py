"""A gateway on the in-memory queue and its own database (a SQLite file in a directory, or a
PostgreSQL URL), driven over HTTP in-process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from sq.platform import migrations
from sq.platform.counter import Counter
from sq.platform.db import create_engine
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import Pipeline, construct
from sq.service.access import Access
from sq.service.controls_api import controls_router
from sq.service.gateway import GatewayDeps, PipelinePublisher, queue_info, stages, wire_controls
from sq.service.http import build_app
from sq.service.settings_submitqueue import QueueConfig
from sq.submitqueue.core.messages import (
    TOPIC_CANCEL,
    TOPIC_CONTROL,
    TOPIC_LOG,
    TOPIC_START,
    RequestLog,
    log_partition,
)
from sq.submitqueue.gateway.api import build_router
from sq.submitqueue.gateway.materializer import Materializer
from sq.submitqueue.gateway.service import Gateway
from sq.submitqueue.gateway.storage import RequestLogStore, schema_set
from support.mq import Harness, Inbox

QUEUES = [
    QueueConfig(name="demo"),
    QueueConfig(name="gitq", provider="git", repository="/srv/git/repo.git"),
]
SHA = "0123456789abcdef0123456789abcdef01234567"


@dataclass
class World:
    h: Harness
    gateway: Gateway
    pipeline: Pipeline
    store: RequestLogStore
    http: httpx2.AsyncClient
    starts: Inbox
    cancels: Inbox
    control_changes: Inbox

    async def land(self, *uris: str, queue: str = "demo", **extra: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/requests", json={"queue": queue, "change_uris": list(uris), **extra}
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, path: str, **params: Any) -> httpx2.Response:
        return await self.http.get(f"/api/v1{path}", params=params)

    async def log(
        self,
        sqid: str,
        value: str,
        *,
        at_ms: int,
        kind: str = "status",
        version: int = 0,
        last_error: str = "",
        key: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Publish what the orchestrator would: one RequestLog to the `log` topic."""
        queue = sqid.rpartition("/")[0]
        entry = RequestLog(
            request_id=sqid,
            queue=queue,
            timestamp_ms=at_ms,
            type="event" if kind == "event" else "status",
            status=value if kind == "status" else "",
            event=value if kind == "event" else "",
            request_version=version,
            last_error=last_error,
            metadata=metadata or {},
        )
        partition = log_partition(queue, sqid)
        await self.h.publish(TOPIC_LOG, partition, key or f"{sqid}/{value}", entry)

    async def settle(self, dead_letters: int = 0) -> None:
        await self.h.settle(dead_letters)


def migrated_engine(where: Path | str) -> Any:
    """`where` is a SQLite file path or a database URL."""
    engine = create_engine(f"sqlite:///{where}" if isinstance(where, Path) else where)
    migrations.upgrade(engine, schema_set(), migrations.counter_schema())
    return engine


@asynccontextmanager
async def gateway_world(
    db: Path | str,
    access: Access | None = None,
    queues: list[QueueConfig] | None = None,
    *,
    migrate: bool = True,
) -> AsyncIterator[World]:
    """`db` is a directory (for a SQLite file in it) or a database URL; `migrate=False` leaves a
    URL's database untouched (one the gateway cannot reach)."""
    h = Harness(MemoryQueueStore())
    where = db / "gateway.db" if isinstance(db, Path) else db
    engine = migrated_engine(where) if migrate else create_engine(str(where))
    store = RequestLogStore(engine)
    counter = Counter(engine)
    pipeline = construct(
        h.queue,
        GatewayDeps(materializer=Materializer(store)),
        stages(),
        publish_only=[TOPIC_START, TOPIC_CANCEL, TOPIC_CONTROL],
    )
    gateway = Gateway(
        store=store,
        queues={q.name: queue_info(q) for q in queues or QUEUES},
        publisher=PipelinePublisher(pipeline),
        next_number=lambda queue: counter.next(queue, "request"),
        clock=h.clock,
    )
    controls = wire_controls(gateway, pipeline)
    app = build_app(
        [build_router(gateway), controls_router(controls)],
        ready=lambda: True,
        access=access or Access(),
    )
    starts = await h.consume(TOPIC_START, group="orchestrator", auto_ack=True)
    cancels = await h.consume(TOPIC_CANCEL, group="orchestrator", auto_ack=True)
    control_changes = await h.consume(TOPIC_CONTROL, group="orchestrator", auto_ack=True)
    await pipeline.start()
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://gateway") as http:
        try:
            yield World(h, gateway, pipeline, store, http, starts, cancels, control_changes)
        finally:
            await pipeline.stop()
            await h.queue.close()
            engine.dispose()
