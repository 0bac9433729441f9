"""The orchestrator's own HTTP surface: build logs (history carries only their last lines)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from sq.submitqueue.orchestrator.profile import OrchestratorDeps, UnknownQueueError
from sq.submitqueue.orchestrator.speculation_view import speculation_view


class BuildLog(BaseModel):
    build_id: str
    queue: str
    status: str
    log: str


def builds_router(deps: OrchestratorDeps) -> APIRouter:
    router = APIRouter(prefix="/api/v1/builds", tags=["builds"])

    @router.get("/log")
    async def build_log(build_id: Annotated[str, Query(min_length=1, max_length=512)]) -> BuildLog:
        """The whole output of one build, as its runner kept it (ids appear in `sq history`)."""
        queue = build_id.split("/", 1)[0]
        try:
            runner = deps.profiles.get(queue).runner
        except UnknownQueueError:
            runner = None
        build = await asyncio.to_thread(deps.storage.get_build, queue, build_id) if runner else None
        if runner is None or build is None:
            raise HTTPException(status_code=404, detail=f"no build {build_id!r}")
        text = await runner.log(build_id)
        return BuildLog(build_id=build_id, queue=queue, status=build.status.value, log=text)

    return router


def speculation_router(deps: OrchestratorDeps) -> APIRouter:
    router = APIRouter(prefix="/api/v1/queues", tags=["queues"])

    @router.get("/{queue}/speculation")
    async def speculation(queue: str) -> dict[str, Any]:
        """Each in-flight head of `queue`: its requests, the heads it waits on, and the paths
        speculation funded for it with their builds."""
        try:
            deps.profiles.get(queue)
        except UnknownQueueError:
            raise HTTPException(status_code=404, detail=f"unknown queue {queue!r}") from None
        return await asyncio.to_thread(speculation_view, deps.storage, queue)

    return router
