"""The orchestrator's own HTTP surface: build logs (history carries only their last lines)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from pydantic import BaseModel

from sq.submitqueue.orchestrator.profile import OrchestratorDeps, UnknownQueueError


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
