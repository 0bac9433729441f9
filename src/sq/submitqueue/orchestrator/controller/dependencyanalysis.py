"""dependency-analysis: fix new batches' dependencies and claim their requests (spec §4.5).

Serial per queue (partitioned by queue): the in-flight list it reads cannot change under it. A
message takes every `creating` batch of its queue at once, in queue order, each analysed against
the in-flight batches and those created before it in the same burst: one read and one
transaction whatever the number of batches (storage/intake.py). The other batches' own messages
then find them created; the burst announced them, so they need nothing more (after a restart they
announce again under the same message ids, which dedup).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sq.platform.errs import VersionMismatchError, attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.speculation import priority
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID
from sq.submitqueue.entity.conflict import dependency_ids
from sq.submitqueue.entity.request import RequestState, is_request_halted, is_request_terminal
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    batch_subject,
    db,
    decode,
    load_batch,
    terminate_request,
)
from sq.submitqueue.orchestrator.controller.speculate_schedule import wake_speculate
from sq.submitqueue.orchestrator.profile import OrchestratorDeps
from sq.submitqueue.orchestrator.storage import Creation, Intake

ATTEMPTS = 3
"""Bursts read again after losing a compare-and-swap before the message is retried later."""
ANNOUNCED_KEPT = 10_000
"""Batches a burst announced whose own message has not come yet (they may come elsewhere)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    creations: tuple[Creation, ...]
    failure: BaseException | None = None
    """The analyzer's error for the batch the message named (the others are left `creating`
    for their own messages)."""
    cancelled: tuple[RequestID, ...] = ()
    """Requests cancelled while the one-request batch left for them was `creating` (a split's
    part): no batch of theirs is left to conclude them, so the burst ends them."""
    ended: tuple[Batch, ...] = ()
    """`creating` batches whose every request has ended (or is gone): cancelled in the burst's
    write, so that no later burst reads them again."""


def plan_burst(intake: Intake, analyzer: ConflictAnalyzer, named: BatchID) -> Plan:
    """Which `creating` batches to create, in queue order, with their dependencies: each is
    analysed against the in-flight batches and the ones created before it in the burst.

    A batch is left `creating` (abandoned, as spec §4.5 does one at a time) when one of its
    requests is carried by another live batch or past `batched`, or when a request is missing
    or halted — except in a batch of several: a halted member does not abandon the others (the
    batch is created, then cancelled by `_cancel_if_overtaken`, and its conclusion puts the
    others back to wait for a batch). An abandoned batch whose every request has ended (or is
    missing) can never go on: it is ended (`Plan.ended`). One with a request still `cancelling`
    is not: that request's cancel may still be deciding by its batches (a later burst ends it).
    """
    in_flight = list(intake.in_flight)
    carried = set(intake.carried)
    creations: list[Creation] = []
    cancelled: list[RequestID] = []
    ended: list[Batch] = []
    failure: BaseException | None = None
    for batch in intake.creating:
        found = [intake.requests.get(r) for r in batch.contains]
        halted = [r for r in found if r is None or is_request_halted(r.state)]
        requests = [r for r in found if r is not None and not is_request_halted(r.state)]
        if any(r in carried for r in batch.contains) or any(
            r.state not in (RequestState.VALIDATED, RequestState.BATCHED) for r in requests
        ):
            continue
        if halted and (len(batch.contains) == 1 or not requests):
            # The cancel stage leaves a request alone while an ended batch holds it ("its
            # outcome belongs to conclude"); a split's part abandoned here is the last batch
            # that could have ended it.
            cancelled += [
                r.id
                for r in halted
                if r is not None and r.state is RequestState.CANCELLING and r.id in intake.ended
            ]
            if all(r is None or is_request_terminal(r.state) for r in halted):
                ended.append(batch)
            continue
        try:
            conflicts = analyzer.analyze(batch, tuple(in_flight))
        except Exception as exc:  # noqa: BLE001  the named batch's is raised after the burst
            if batch.id == named:
                failure = attribute(exc, batch_subject(batch.id))
            continue  # its own message analyses it again
        dependencies, overtakes = priority.split_conflicts(
            batch, dependency_ids(conflicts), in_flight
        )
        creations.append(
            Creation(
                batch=batch,
                dependencies=dependencies,
                overtakes=overtakes,
                requests=tuple(requests),
            )
        )
        carried.update(batch.contains)
        in_flight.append(
            Batch(
                id=batch.id,
                queue=batch.queue,
                contains=batch.contains,
                dependencies=dependencies,
                state=BatchState.CREATED,
                version=batch.version + 1,
                priority=batch.priority,
                overtakes=overtakes,
            )
        )
    return Plan(
        creations=tuple(creations),
        failure=failure,
        cancelled=tuple(cancelled),
        ended=tuple(ended),
    )


class DependencyAnalysisController:
    name = "dependency-analysis"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)
        self._announced: set[BatchID] = set()

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        if ref.id in self._announced:
            self._announced.discard(BatchID(ref.id))
            return
        batch = await load_batch(self.deps, ref.queue, ref.id)
        if batch.state is BatchState.CREATING:
            await self._burst(batch.queue, batch.id)
        elif batch.state is BatchState.CREATED:  # a burst that crashed before announcing it
            await self._announce([batch])

    async def _burst(self, queue: str, named: BatchID) -> None:
        storage = self.deps.storage
        analyzer = self.deps.profiles.get(queue).analyzer
        for attempt in range(ATTEMPTS):
            intake = await db(storage.read_intake, queue)
            plan = await db(plan_burst, intake, analyzer, named)
            try:
                created = await db(
                    storage.create_batches, queue, plan.creations, intake.associated, plan.ended
                )
            except VersionMismatchError:
                if attempt + 1 == ATTEMPTS:
                    raise
                continue  # a cancel won a request's race, or another burst ran: read again
            break
        for request_id in plan.cancelled:
            await terminate_request(self.deps, self.log, queue, request_id, RequestState.CANCELLED)
        await self._cancel_if_overtaken(created)
        await self._announce(created)
        if len(self._announced) > ANNOUNCED_KEPT:
            self._announced.clear()
        self._announced.update(b.id for b in created if b.id != named)
        if plan.failure is not None:
            raise plan.failure

    async def _announce(self, created: Sequence[Batch]) -> None:
        """Each request's `batched` status, and one speculate signal: a run admits every
        `created` batch it reads."""
        if not created:
            return
        await asyncio.gather(
            *(
                self.log.status(request_id, b.queue, "batched", metadata={"batch_id": b.id})
                for b in created
                for request_id in b.contains
            )
        )
        await wake_speculate(self.deps, self.ctx, created[-1].queue)

    async def _cancel_if_overtaken(self, created: Sequence[Batch]) -> None:
        """A cancel that ran while a batch was still `creating` found nothing to stop; make sure
        the batch does not go on for a request that is now halted."""
        if not created:
            return
        queue = created[0].queue
        wanted: list[RequestID] = [r for b in created for r in b.contains]
        requests = await db(self.deps.storage.requests_of, queue, wanted)
        for batch in created:
            if any(
                (r := requests.get(request_id)) is not None and is_request_halted(r.state)
                for request_id in batch.contains
            ):
                await db(self.deps.storage.transition_batch, batch, BatchState.CANCELLING)
                await wake_speculate(self.deps, self.ctx, queue)
