"""process (spec §2.2): coalesce the backlog to the newest head, gate on the queue's concurrency,
choose incremental or full, claim a slot and hand the request to `build`.

Partitioned by queue, so one delivery per queue runs at a time: the gate's read-modify-write has a
single writer (other writers of the Queue row touch other fields, under CAS).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sq.platform import errs
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe import messages
from sq.stovepipe.controller.common import (
    CAS_ATTEMPTS,
    about,
    load_request,
    log,
    message_of,
    release_slot_best_effort,
)
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import (
    BuildStrategy,
    Queue,
    Request,
    RequestState,
    compare_request_ids,
)
from sq.stovepipe.extension.sourcecontrol import NotFoundError as ScNotFoundError
from sq.stovepipe.storage import VersionMismatchError


class ProcessController:
    name = "stovepipe-process"

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        with about(message.id):
            await self._process(delivery, await load_request(self.deps, message))

    async def _process(self, delivery: Delivery, request: Request) -> None:
        if request.state is RequestState.PROCESSING:
            await self._publish_build(request)
            return
        if request.state is not RequestState.ACCEPTED:
            return
        store = self.deps.storage
        row = await asyncio.to_thread(store.get_queue, request.queue)
        if not row.latest_request_id:
            log.warning("queue has no latest request; leaving it", request=request.id)
            return
        setup = self.deps.queue(request.queue)
        for _ in range(CAS_ATTEMPTS):
            if await self._supersede_if_stale(request, row):
                return
            if row.in_flight_count >= setup.max_concurrent:
                if setup.gate_wait_delay_ms <= 0:
                    raise errs.UserError(f"queue {row.name}: gate_wait_delay_ms must be > 0")
                delivery.hold(setup.gate_wait_delay_ms / 1000)
                return
            strategy, base = await self._strategy(request, row)
            try:
                await asyncio.to_thread(
                    store.update_queue, replace(row, in_flight_count=row.in_flight_count + 1)
                )
            except VersionMismatchError:
                row = await asyncio.to_thread(store.get_queue, request.queue)
                continue
            await self._admit(request, strategy, base)
            return
        raise VersionMismatchError(f"queue {row.name}: could not claim a slot")

    async def _supersede_if_stale(self, request: Request, row: Queue) -> bool:
        if compare_request_ids(request.queue, request.id, row.latest_request_id) >= 0:
            return False
        current = request
        for _ in range(CAS_ATTEMPTS):
            if current.state is not RequestState.ACCEPTED:
                return True
            try:
                await asyncio.to_thread(
                    self.deps.storage.update_request,
                    replace(current, state=RequestState.SUPERSEDED),
                )
                return True
            except VersionMismatchError:
                current = await asyncio.to_thread(
                    self.deps.storage.get_request, current.queue, current.id
                )
        raise VersionMismatchError(f"request {request.id}: could not supersede")

    async def _strategy(self, request: Request, row: Queue) -> tuple[BuildStrategy, str]:
        if not row.last_green_uri:
            return BuildStrategy.FULL, ""
        sc = self.deps.source_control.for_queue(request.queue)
        try:
            descends = await sc.is_ancestor(row.last_green_uri, request.uri)
        except ScNotFoundError:
            log.warning("unknown ancestry; full build", request=request.id)
            return BuildStrategy.FULL, ""
        if descends:
            return BuildStrategy.INCREMENTAL, row.last_green_uri
        return BuildStrategy.FULL, ""

    async def _admit(self, request: Request, strategy: BuildStrategy, base: str) -> None:
        try:
            admitted = await self._mark_processing(request, strategy, base)
        except Exception:
            await release_slot_best_effort(self.deps, request.queue)
            raise
        if admitted is None:
            await release_slot_best_effort(self.deps, request.queue)  # lost the race
            return
        await self._publish_build(admitted)

    async def _mark_processing(
        self, request: Request, strategy: BuildStrategy, base: str
    ) -> Request | None:
        current = request
        for _ in range(CAS_ATTEMPTS):
            if current.state is not RequestState.ACCEPTED:
                return None
            admitted = replace(
                current, state=RequestState.PROCESSING, build_strategy=strategy, base_uri=base
            )
            try:
                return await asyncio.to_thread(self.deps.storage.update_request, admitted)
            except VersionMismatchError:
                current = await asyncio.to_thread(
                    self.deps.storage.get_request, current.queue, current.id
                )
        raise VersionMismatchError(f"request {request.id}: could not admit")

    async def _publish_build(self, request: Request) -> None:
        payload = messages.EntityMessage(id=request.id, queue_name=request.queue)
        await self.ctx.publish(messages.BUILD, request.id, request.id, payload)
