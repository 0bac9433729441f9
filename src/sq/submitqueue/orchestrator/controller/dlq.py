"""DLQ reconcilers: drive what a dead-lettered message was about to a conservative terminal
state, never retrying the work itself (spec §4.13). They retry forever, so they must converge."""

from __future__ import annotations

from collections.abc import Callable

import structlog
from pydantic import BaseModel

from sq.api import runway as rw
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import unique_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import (
    ACTIVE_STATES,
    Batch,
    BatchState,
    is_terminal,
)
from sq.submitqueue.entity.request import RequestState
from sq.submitqueue.orchestrator.controller.batch import WAKE
from sq.submitqueue.orchestrator.controller.common import Log, db, decode, terminate_request
from sq.submitqueue.orchestrator.controller.start import request_of
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

log = structlog.get_logger("sq.orchestrator.dlq")

IdOf = Callable[[Delivery], tuple[str, str]]
"""(queue, entity id) named by a dead letter."""


def _ref(model: type[BaseModel]) -> IdOf:
    def id_of(delivery: Delivery) -> tuple[str, str]:
        payload = decode(delivery, model)
        if isinstance(payload, rw.MergeResult):
            return payload.queue_name, payload.id
        return str(getattr(payload, "queue", "")), str(getattr(payload, "id", ""))

    return id_of


def _why(delivery: Delivery) -> tuple[str, dict[str, str]]:
    failure = delivery.failure
    message = failure.message if failure else delivery.metadata.get("dlq.last_error", "")
    meta = {k: v for k, v in delivery.metadata.items() if k.startswith("dlq.")}
    meta.setdefault("dlq.original_topic", delivery.message.topic.removesuffix("_dlq"))
    for subject in failure.subjects if failure else ():
        meta[f"dlq.subject.{subject.type}"] = subject.id
    return f"dead-lettered: {message or 'unknown failure'}", meta


class _Reconciler:
    def __init__(self, name: str, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.name, self.deps, self.ctx, self.log = name, deps, ctx, Log(deps, ctx)

    async def fail_batch(self, batch: Batch, reason: str, meta: dict[str, str]) -> bool:
        """Fail the batch and every request in it; True when the batch moved."""
        moved = False
        if batch.state in (BatchState.SUCCEEDED, BatchState.CANCELLED):
            return False
        if not is_terminal(batch.state):
            batch = await db(self.deps.storage.transition_batch, batch, BatchState.FAILED)
            moved = True
        for request_id in batch.contains:
            await terminate_request(
                self.deps,
                self.log,
                batch.queue,
                request_id,
                RequestState.ERROR,
                last_error=reason,
                metadata={**meta, "batch_id": batch.id},
            )
        # Dependents re-plan against the failure.
        await self.ctx.publish(
            m.TOPIC_SPECULATE,
            batch.queue,
            unique_id(batch.id),
            m.EntityRef(id=batch.id, queue=batch.queue),
        )
        return moved


class RequestReconciler(_Reconciler):
    """start, cancel, validate, batch (an arrival), merge-conflict-check-signal: fail the
    request unless a live batch owns it (then conclude decides)."""

    def __init__(
        self,
        name: str,
        deps: OrchestratorDeps,
        ctx: StageContext,
        id_of: IdOf,
        *,
        direct: bool = False,
    ) -> None:
        super().__init__(name, deps, ctx)
        self._id_of, self._direct = id_of, direct

    async def process(self, delivery: Delivery) -> None:
        queue, request_id = self._id_of(delivery)
        reason, meta = _why(delivery)
        request = await db(self.deps.storage.get_request, queue, request_id)
        if request is None:
            log.warning("dead letter names no request", request=request_id)
            return
        if not self._direct:
            for batch in await db(self.deps.storage.batches_of_request, queue, request_id):
                if not is_terminal(batch.state) and batch.state is not BatchState.CREATING:
                    return
        await terminate_request(
            self.deps,
            self.log,
            queue,
            request_id,
            RequestState.ERROR,
            last_error=reason,
            metadata=meta,
        )


class FormationReconciler(RequestReconciler):
    """batch: an arrival as any request stage. A wake, or the formation a re-queue asked for,
    was the promise that the queue's waiting requests get a batch whatever comes (later arrivals
    share it: a formation that finds the same oldest request publishes the same wake, which
    dedups); dead-lettered, no formation is due for them, so every request still waiting ends
    `error`."""

    async def process(self, delivery: Delivery) -> None:
        if delivery.metadata.get("batch") != WAKE:
            await super().process(delivery)
            return
        ref = decode(delivery, m.EntityRef)
        why, meta = _why(delivery)
        for row in await db(self.deps.storage.waiting, ref.queue):
            await terminate_request(
                self.deps,
                self.log,
                ref.queue,
                row.request,
                RequestState.ERROR,
                last_error=f"batch formation {why}",
                metadata=meta,
            )
            # After the request ended: a reconciler that stops in between finds it waiting again.
            await db(self.deps.storage.drop_waiting, ref.queue, row.request)


class BatchReconciler(_Reconciler):
    """dependency-analysis, build, submitqueue-merge, conclude, merge-signal: fail the batch."""

    def __init__(self, name: str, deps: OrchestratorDeps, ctx: StageContext, id_of: IdOf) -> None:
        super().__init__(name, deps, ctx)
        self._id_of = id_of

    async def process(self, delivery: Delivery) -> None:
        queue, batch_id = self._id_of(delivery)
        batch = await db(self.deps.storage.get_batch, queue, batch_id)
        if batch is None:
            log.warning("dead letter names no batch", batch=batch_id)
            return
        await self.fail_batch(batch, *_why(delivery))


class BuildSignalReconciler(_Reconciler):
    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        build = await db(self.deps.storage.get_build, ref.queue, ref.id)
        if build is None:
            return
        batch = await db(self.deps.storage.get_batch, ref.queue, build.batch_id)
        if batch is None:
            return
        await self.fail_batch(batch, *_why(delivery))


class SpeculateReconciler(_Reconciler):
    """Fail the batches the failure was attributed to, else the one the message named."""

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        failure = delivery.failure
        ids = failure.ids_of_type("batch") if failure else []
        reason, meta = _why(delivery)
        for batch_id in ids or [ref.id]:
            batch = await db(self.deps.storage.get_batch, ref.queue, batch_id)
            if batch is not None:
                await self.fail_batch(batch, reason, meta)
        active = await db(self.deps.storage.list_batches, ref.queue, ACTIVE_STATES)
        if active:
            first = active[0]
            await self.ctx.publish(
                m.TOPIC_SPECULATE,
                ref.queue,
                unique_id(first.id),
                m.EntityRef(id=first.id, queue=ref.queue),
            )


class StartReconciler(RequestReconciler):
    """start: a land message dead-lettered before start stored its request would leave the request
    `accepted` at the gateway for ever (nothing else names it); the request is stored from the
    message, as start would have, and then ended in error like any other."""

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        super().__init__(f"{ctx.topic_key}-reconciler", deps, ctx, _ref(m.LandRequest))

    async def process(self, delivery: Delivery) -> None:
        land = decode(delivery, m.LandRequest)
        await db(self.deps.storage.create_request, request_of(self.deps, land))
        await super().process(delivery)


def request_reconciler(
    model: type[BaseModel], *, direct: bool = False
) -> Callable[[OrchestratorDeps, StageContext], RequestReconciler]:
    return lambda deps, ctx: RequestReconciler(
        f"{ctx.topic_key}-reconciler", deps, ctx, _ref(model), direct=direct
    )


def formation_reconciler() -> Callable[[OrchestratorDeps, StageContext], FormationReconciler]:
    return lambda deps, ctx: FormationReconciler(
        f"{ctx.topic_key}-reconciler", deps, ctx, _ref(m.EntityRef)
    )


def batch_reconciler(
    model: type[BaseModel],
) -> Callable[[OrchestratorDeps, StageContext], BatchReconciler]:
    return lambda deps, ctx: BatchReconciler(f"{ctx.topic_key}-reconciler", deps, ctx, _ref(model))
