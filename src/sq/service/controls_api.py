"""`/api/v1/queues/{queue}/pause|resume|drain` (admin scope once tokens are configured) and the
modes they set: `GET /api/v1/queues/{queue}/control`, `GET /api/v1/controls`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from sq.service.access import ADMIN_ONLY
from sq.service.http import ApiError
from sq.submitqueue.entity.control import QueueControl, QueueMode
from sq.submitqueue.gateway.controls import QueueControls
from sq.submitqueue.gateway.errors import GatewayError

PREFIX = "/api/v1"


class ControlBody(BaseModel):
    model_config = ConfigDict(extra="forbid")  # a misspelt `reason` is refused, as for land

    reason: str = Field(default="", max_length=1000)


class ControlView(BaseModel):
    queue: str
    mode: QueueMode
    version: int
    reason: str
    changed_at_ms: int

    @classmethod
    def of(cls, control: QueueControl) -> ControlView:
        return cls(
            queue=control.queue,
            mode=control.mode,
            version=control.version,
            reason=control.reason,
            changed_at_ms=control.changed_at_ms,
        )


class ControlList(BaseModel):
    controls: list[ControlView]


async def _answer(call: Callable[[], Awaitable[QueueControl]]) -> ControlView:
    try:
        return ControlView.of(await call())
    except GatewayError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.headers) from exc


def controls_router(controls: QueueControls) -> APIRouter:
    api = APIRouter(prefix=PREFIX, tags=["controls"])

    @api.get("/controls")
    async def list_controls() -> ControlList:
        """Every configured queue's mode: active, paused or draining."""
        return ControlList(controls=[ControlView.of(c) for c in await controls.all()])

    @api.get("/queues/{queue}/control")
    async def get_control(queue: str) -> ControlView:
        return await _answer(lambda: controls.get(queue))

    def setter(verb: str, mode: QueueMode, summary: str) -> None:
        async def change(queue: str, body: ControlBody | None = None) -> ControlView:
            reason = body.reason if body else ""
            return await _answer(lambda: controls.set_mode(queue, mode, reason))

        path = f"/queues/{{queue}}/{verb}"
        api.post(path, openapi_extra=ADMIN_ONLY, summary=summary, name=f"{verb}_queue")(change)

    setter("pause", QueueMode.PAUSED, "Pause: fund no new build; running ones finish and may land")
    setter("resume", QueueMode.ACTIVE, "Resume: accept and start work again")
    setter("drain", QueueMode.DRAINING, "Drain: accept no new request; land what is in flight")
    return api
