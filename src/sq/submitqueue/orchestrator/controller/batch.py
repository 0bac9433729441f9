"""batch: put validated requests into batches (spec §4.4; batching, doc/batching-queue.md).

Without batching (`max_size` 1, the default) each validated request becomes a batch of its own at
once, as in the reference. With batching, a validated request waits: the stage (serial per queue
for arrivals) reads the queue's waiting requests, asks `core.batching.form` which batches close
now, creates them (each in one transaction with the removal of its members' waiting rows, so a
request is in exactly one live batch whatever is redelivered), and leaves one held `wake`
message for the moment the oldest of the rest must be batched whatever comes. Wake messages go on
partitions of their own (`wake_partition`), so that holding one never stops arrivals; two
formations that race are settled by that transaction (the loser re-reads). With deep batching
(`BatchPolicy.deep`) the stage also writes each request's arrival, and forms by the deep rules
while enough arrived over the last build time; a queue batching only while deep skips the waiting
room while shallow (`_each_alone`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial

import structlog

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.batching import BatchPolicy, Waiting, form, with_conflicts
from sq.submitqueue.entity.batch import (
    DEPENDENCY_STATES,
    Batch,
    BatchID,
    BatchState,
    Priority,
    RequestID,
    batch_id,
)
from sq.submitqueue.entity.request import Request, RequestState, is_request_halted
from sq.submitqueue.extension.scorer.members import one_request
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    LogBundle,
    db,
    decode,
    load_request,
    load_requests,
    terminate_request,
)
from sq.submitqueue.orchestrator.controller.window import one_by_one, one_queue, publish_all
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

log = structlog.get_logger("sq.orchestrator.batch")

WAKE = "wake"
"""`batch` metadata of a formation message that is no arrival (a wake, a member re-queued)."""


def wake_partition(queue: str, kind: str = "wake") -> str:
    """Where formation messages that are no arrival go, apart from arrivals so that holding one
    never stops them, and apart from each other by `kind` so that a wake held for the queue's
    `max_wait` never holds back a shorter deep wake (`wake-deep`) or a re-queue (`form`)."""
    return f"{queue}#batch-{kind}"


async def member_probability(deps: OrchestratorDeps, queue: str, request_id: RequestID) -> float:
    """The queue's scorer on a one-request batch of `request_id`; 1 when it cannot tell (the
    policy's probability floor then never keeps the request out of a batch)."""
    scorer = deps.profiles.get(queue).scorer
    if scorer is None:
        return 1.0
    alone = one_request(Batch(id=batch_id(queue, 0), queue=queue), request_id)
    try:
        value = float(await db(scorer.score, alone))
    except Exception:
        log.warning("could not score a waiting request", request=request_id, exc_info=True)
        return 1.0
    return value if 0.0 <= value <= 1.0 else 1.0


async def form_soon(ctx: StageContext, queue: str, cause: str, request_id: RequestID) -> None:
    """Ask the batch stage to form batches now (requests were put back to wait)."""
    await ctx.publish(
        m.TOPIC_BATCH,
        wake_partition(queue, "form"),
        intent_id(queue, "batch-form", cause),
        m.EntityRef(id=request_id, queue=queue),
        {"batch": WAKE, "wake_at_ms": "0"},
    )


class BatchController:
    name = "batch"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)
        self.deep: dict[str, bool] = {}
        """Per queue, whether the last formation here followed its deep rules (for the log)."""

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        policy = self.deps.profiles.get(ref.queue).batching
        if delivery.metadata.get("batch") == WAKE:
            due = int(delivery.metadata.get("wake_at_ms", "0") or 0)
            now = self.deps.clock.now_ms()
            if now < due:
                delivery.hold((due - now) / 1000)
                return
            await self.form(ref.queue)
            return
        request = await load_request(self.deps, ref.queue, ref.id)
        if request.state is not RequestState.VALIDATED:
            return
        if await self._each_alone(request.queue, policy, [request]):
            await self._alone(request)
            return
        now = self.deps.clock.now_ms()
        storage, counted = self.deps.storage, policy.deep is not None
        if await db(storage.enqueue_waiting, request.queue, request.id, now, counted):
            await self.log.status(request.id, request.queue, "batching", version=request.version)
        await self.form(request.queue)

    async def process_window(self, deliveries: Sequence[Delivery]) -> None:
        """`process` for each. Without batching, a batch of its own for each validated request,
        all numbered and created in one transaction; with batching, or with a wake in the window,
        one at a time (a formation reads what the one before it wrote)."""
        refs = [decode(d, m.EntityRef) for d in deliveries]
        queue = one_queue([x.queue for x in refs], [x.id for x in refs])
        if queue is None or any(d.metadata.get("batch") == WAKE for d in deliveries):
            await one_by_one(self, deliveries)
            return
        policy = self.deps.profiles.get(queue).batching
        if policy.enabled and not policy.alone_until_deep:
            await one_by_one(self, deliveries)
            return
        requests = [
            r
            for r in await load_requests(self.deps, queue, [x.id for x in refs])
            if r.state is RequestState.VALIDATED
        ]
        if not await self._each_alone(queue, policy, requests):
            await one_by_one(self, deliveries)
            return
        batches = await db(self.deps.storage.create_lone_batches, queue, requests)
        logs = self.log.bundle()
        for request, batch in zip(requests, batches, strict=True):
            _log_alone(logs, request, batch)
        await logs.flush()
        await publish_all(self.ctx, (_analysis(b) for b in batches))

    async def _each_alone(
        self, queue: str, policy: BatchPolicy, requests: Sequence[Request]
    ) -> bool:
        """Whether these validated requests each become a batch of their own at once, without
        the waiting room: without batching, or batching only while deep (`alone_until_deep`)
        while the queue is shallow with no one waiting. With deep batching their arrivals are
        written either way (before, in a transaction of their own: a redelivery counts once)."""
        if not policy.enabled:
            return True
        if not policy.alone_until_deep or not requests:
            return False
        now = self.deps.clock.now_ms()
        await db(self.deps.storage.note_arrivals, queue, [r.id for r in requests], now)
        if await self._depth(queue, policy, now) is not policy:
            return False
        return not await db(self.deps.storage.waiting, queue)

    async def _alone(self, request: Request) -> None:
        (batch,) = await db(self.deps.storage.create_lone_batches, request.queue, [request])
        logs = self.log.bundle()
        _log_alone(logs, request, batch)
        await logs.flush()
        await self._analyse(batch)

    async def form(self, queue: str) -> None:
        """Close the batches the policy closes now; leave a wake for the ones still waiting."""
        storage = self.deps.storage
        # A batch created before a crash that kept its analysis from being asked for: ask again
        # (the message id is the batch's, so an analysis already asked for is not asked twice).
        for creating in await db(storage.list_batches, queue, (BatchState.CREATING,)):
            await self._analyse(creating)
        profile = self.deps.profiles.get(queue)
        now = self.deps.clock.now_ms()
        waiting: list[Waiting] = []
        for row in await db(storage.waiting, queue):
            request = await db(storage.get_request, queue, row.request)
            if request is None or is_request_halted(request.state):
                await db(storage.drop_waiting, queue, row.request)  # cancelled while waiting
                if request is not None:
                    await terminate_request(
                        self.deps, self.log, queue, request.id, RequestState.CANCELLED
                    )
                continue
            waiting.append(
                Waiting(
                    request=request.id,
                    since_ms=row.since_ms,
                    probability=await member_probability(self.deps, queue, request.id),
                    priority=request.priority,
                )
            )
        policy = await self._depth(queue, profile.batching, now)
        if policy.asks_conflicts:
            in_flight = await db(storage.list_batches, queue, DEPENDENCY_STATES)
            waiting = await db(
                partial(with_conflicts, separating=profile.separating_analyzer),
                waiting,
                profile.analyzer,
                in_flight,
                _placeholder(queue),
            )
        formed = form(waiting, policy, now)
        lanes = {w.request: w.priority for w in waiting}
        for members in formed.closed:
            await self._close(queue, members, lanes)
        if formed.wake_at_ms is not None and formed.waiting:
            oldest = formed.waiting[0].request
            deep = policy is not profile.batching
            await self.ctx.publish(
                m.TOPIC_BATCH,
                wake_partition(queue, "wake-deep" if deep else "wake"),
                intent_id(queue, "batch-wake", oldest, str(formed.wake_at_ms)),
                m.EntityRef(id=oldest, queue=queue),
                {"batch": WAKE, "wake_at_ms": str(formed.wake_at_ms)},
            )

    async def _depth(self, queue: str, policy: BatchPolicy, now: int) -> BatchPolicy:
        """The rules formation follows now: `BatchPolicy.at` the requests that arrived over the
        last build time (counted in storage, so every instance and a restarted one agree); says
        so when the queue goes deep or comes back."""
        if policy.deep is None:
            return policy
        since = now - policy.deep.build_time_ms
        rules = policy.at(await db(self.deps.storage.arrivals, queue, since))
        deep = rules is not policy
        if deep != self.deep.get(queue, False):
            self.deep[queue] = deep
            log.info("deep batching" if deep else "batching as usual", queue=queue)
        return rules

    async def _close(
        self, queue: str, members: tuple[RequestID, ...], lanes: dict[RequestID, Priority]
    ) -> None:
        storage = self.deps.storage
        number = await db(storage.next_batch_number, queue)
        batch = Batch(
            id=batch_id(queue, number),
            queue=queue,
            contains=members,
            priority=lanes[members[0]],
        )
        if not await db(storage.close_waiting, batch):
            return  # a concurrent formation took one of them; its batch is analysed there
        for request_id in members:
            await self.log.status(
                request_id,
                queue,
                "batching",
                occurrence=batch.id,
                metadata={"batch_id": batch.id, "size": str(len(members))},
            )
        await self._analyse(batch)

    async def _analyse(self, batch: Batch) -> None:
        await self.ctx.publish(*_analysis(batch))


def _placeholder(queue: str) -> Callable[[RequestID], Batch]:
    """A waiting request as a one-request batch, under an id no real batch has."""
    return lambda request: Batch(
        id=BatchID(f"{queue}/waiting/{request}"), queue=queue, contains=(request,)
    )


def _log_alone(logs: LogBundle, request: Request, batch: Batch) -> None:
    logs.status(
        request.id,
        request.queue,
        "batching",
        version=request.version,
        metadata={"batch_id": batch.id},
    )


def _analysis(batch: Batch) -> tuple[str, str, str, m.EntityRef]:
    return (
        m.TOPIC_DEPENDENCY_ANALYSIS,
        batch.queue,
        batch.id,
        m.EntityRef(id=batch.id, queue=batch.queue),
    )
