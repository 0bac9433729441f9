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
from sq.stovepipe.controller.cas import swap
from sq.stovepipe.controller.common import (
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

        async def claim(current: Queue) -> Queue | None:
            if await self._supersede_if_stale(request, current):
                return None
            if current.in_flight_count >= setup.max_concurrent:
                if setup.gate_wait_delay_ms <= 0:
                    raise errs.UserError(f"queue {current.name}: gate_wait_delay_ms must be > 0")
                delivery.hold(setup.gate_wait_delay_ms / 1000)
                return None
            return replace(current, in_flight_count=current.in_flight_count + 1)

        claimed = await swap(
            f"queue {row.name}: claiming a slot",
            lambda: store.get_queue(request.queue),
            claim,
            store.update_queue,
            row=row,
        )
        if claimed.changed:
            await self._admit(request, claimed.row)

    async def _supersede_if_stale(self, request: Request, row: Queue) -> bool:
        if compare_request_ids(request.queue, request.id, row.latest_request_id) >= 0:
            return False

        async def supersede(current: Request) -> Request | None:
            if current.state is not RequestState.ACCEPTED:
                return None
            return replace(current, state=RequestState.SUPERSEDED)

        await swap(
            f"request {request.id}: superseding it",
            lambda: self.deps.storage.get_request(request.queue, request.id),
            supersede,
            self.deps.storage.update_request,
            row=request,
        )
        return True

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

    async def _admit(self, request: Request, row: Queue) -> None:
        """Holding a slot claimed on `row`: mark the request processing, or give the slot back."""
        try:
            strategy, base = await self._strategy(request, row)
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

        async def admit(current: Request) -> Request | None:
            if current.state is not RequestState.ACCEPTED:
                return None
            return replace(
                current, state=RequestState.PROCESSING, build_strategy=strategy, base_uri=base
            )

        swapped = await swap(
            f"request {request.id}: admitting it",
            lambda: self.deps.storage.get_request(request.queue, request.id),
            admit,
            self.deps.storage.update_request,
            row=request,
        )
        return swapped.written

    async def _publish_build(self, request: Request) -> None:
        payload = messages.EntityMessage(id=request.id, queue_name=request.queue)
        await self.ctx.publish(messages.BUILD, request.id, request.id, payload)
