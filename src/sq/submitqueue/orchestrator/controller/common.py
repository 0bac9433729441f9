"""What every stage shares: decoding, storage calls off the event loop, and request logs."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from sq.platform.errs import Subject, UserError, attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID
from sq.submitqueue.entity.request import Request, RequestState, is_request_terminal
from sq.submitqueue.orchestrator.controller.hooks import publish_request_hook
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


def decode(delivery: Delivery, model: type[M]) -> M:
    try:
        return model.model_validate(delivery.json())
    except (ValidationError, ValueError) as exc:
        raise UserError(f"malformed {model.__name__} payload: {exc}") from exc


async def db(fn: Callable[..., T], *args: Any) -> T:
    return await asyncio.to_thread(fn, *args)


async def dependency_states(
    deps: OrchestratorDeps, queue: str, ids: Iterable[BatchID]
) -> Callable[[BatchID], BatchState]:
    """The state of each of `ids` (`UNKNOWN` for one not found), read in one statement."""
    states = await db(deps.storage.batch_states, queue, ids)
    return lambda batch_id: states.get(batch_id, BatchState.UNKNOWN)


def request_subject(request_id: str) -> Subject:
    return Subject(type="request", id=request_id)


def batch_subject(batch_id: str) -> Subject:
    return Subject(type="batch", id=batch_id)


def check_queue(payload_queue: str, entity_queue: str, what: str) -> None:
    if payload_queue and payload_queue != entity_queue:
        raise UserError(f"{what}: queue mismatch ({payload_queue!r} != {entity_queue!r})")


async def load_request(deps: OrchestratorDeps, queue: str, request_id: str) -> Request:
    request = await db(deps.storage.get_request, queue, request_id)
    if request is None:
        raise attribute(UserError(f"request {request_id} not found"), request_subject(request_id))
    return request


async def load_requests(deps: OrchestratorDeps, queue: str, ids: Sequence[str]) -> list[Request]:
    """`load_request` for each of `ids`, in one statement: the requests in the order given, or
    the same error for the first that does not exist."""
    found = await db(deps.storage.get_requests, queue, list(ids))
    missing = next((r for r in ids if r not in found), None)
    if missing is not None:
        raise attribute(UserError(f"request {missing} not found"), request_subject(missing))
    return [found[RequestID(r)] for r in ids]


async def load_batch(deps: OrchestratorDeps, queue: str, batch_id: str) -> Batch:
    batch = await db(deps.storage.get_batch, queue, batch_id)
    if batch is None:
        raise attribute(UserError(f"batch {batch_id} not found"), batch_subject(batch_id))
    return batch


class Log:
    """Publishes request logs to the gateway; ids dedup per request, value and occurrence."""

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self._deps = deps
        self._ctx = ctx

    @property
    def ctx(self) -> StageContext:
        return self._ctx

    def bundle(self) -> LogBundle:
        """Entries to publish together, one message per request (`LogBundle`)."""
        return LogBundle(self._deps, self._ctx)

    async def status(
        self,
        request_id: str,
        queue: str,
        status: str,
        *,
        version: int = 0,
        occurrence: str | None = None,
        last_error: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        bundle = self.bundle()
        bundle.status(
            request_id,
            queue,
            status,
            version=version,
            occurrence=occurrence,
            last_error=last_error,
            metadata=metadata,
        )
        await bundle.flush()

    async def event(
        self,
        request_id: str,
        queue: str,
        event: str,
        *,
        occurrence: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        bundle = self.bundle()
        bundle.event(request_id, queue, event, occurrence=occurrence, metadata=metadata)
        await bundle.flush()


class LogBundle:
    """Request-log entries that one step logs one after another, with no write in between:
    `flush` publishes each request's entries, in order, as one message (a lone entry exactly as
    `Log` always did). Each entry keeps the id it would have had alone, and the gateway dedups
    per entry, so a replay that bundles differently records nothing twice. Flush before the next
    write: what a crash then loses, the redelivery logs again."""

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self._deps = deps
        self._ctx = ctx
        self._entries: dict[str, list[tuple[str, m.RequestLog]]] = {}

    def __len__(self) -> int:
        return sum(len(e) for e in self._entries.values())

    def status(
        self,
        request_id: str,
        queue: str,
        status: str,
        *,
        version: int = 0,
        occurrence: str | None = None,
        last_error: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._add(request_id, queue, "status", status, version, occurrence, last_error, metadata)

    def event(
        self,
        request_id: str,
        queue: str,
        event: str,
        *,
        occurrence: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._add(request_id, queue, "event", event, 0, occurrence, "", metadata)

    def _add(
        self,
        request_id: str,
        queue: str,
        kind: str,
        value: str,
        version: int,
        occurrence: str | None,
        last_error: str,
        metadata: Mapping[str, str] | None,
    ) -> None:
        entry = m.RequestLog(
            request_id=request_id,
            queue=queue,
            timestamp_ms=self._deps.clock.now_ms(),
            type="status" if kind == "status" else "event",
            status=value if kind == "status" else "",
            event=value if kind == "event" else "",
            request_version=version,
            last_error=last_error,
            metadata=dict(metadata or {}),
        )
        causes = (value, occurrence) if occurrence else (value,)
        self._entries.setdefault(request_id, []).append((intent_id(request_id, *causes), entry))

    async def flush(self) -> None:
        entries, self._entries = self._entries, {}
        # Published together, so that they share the queue's group commit.
        await asyncio.gather(*(self._publish(_one_message(logged)) for logged in entries.values()))

    async def _publish(self, message: tuple[str, m.RequestLog]) -> None:
        message_id, payload = message
        partition = m.log_partition(payload.queue, payload.request_id)
        await self._ctx.publish(m.TOPIC_LOG, partition, message_id, payload)


def _one_message(logged: list[tuple[str, m.RequestLog]]) -> tuple[str, m.RequestLog]:
    """One request's entries as one message: a lone entry under its own id; several under an
    id naming exactly that set (a replay of the same step dedups, a different set does not)."""
    (key, first), rest = logged[0], logged[1:]
    if not rest:
        return key, first
    more = tuple(
        m.LogItem(
            key=k,
            timestamp_ms=e.timestamp_ms,
            type=e.type,
            status=e.status,
            event=e.event,
            request_version=e.request_version,
            last_error=e.last_error,
            metadata=e.metadata,
        )
        for k, e in rest
    )
    digest = hashlib.sha256("\n".join(k for k, _ in logged).encode()).hexdigest()[:32]
    message_id = intent_id(first.request_id, "log", digest)
    return message_id, first.model_copy(update={"key": key, "more": more})


async def terminate_request(
    deps: OrchestratorDeps,
    log: Log,
    queue: str,
    request_id: str,
    target: RequestState,
    *,
    last_error: str = "",
    metadata: Mapping[str, str] | None = None,
) -> bool:
    """Move a request to a terminal state once (spec §3.1 TerminateRequest); True if it is there.

    Already there: the hook event and the log are published again (their ids dedup). Another
    terminal state: left alone. Missing: nothing to do (False).
    """
    request = await db(deps.storage.get_request, queue, request_id)
    if request is None:
        return False
    if request.state is not target:
        if is_request_terminal(request.state):
            return False
        request = await db(deps.storage.update_request, request, target)
    reason = last_error or (metadata or {}).get("reason", "")
    await publish_request_hook(log.ctx, deps, request, reason=reason, metadata=metadata)
    await log.status(
        request_id,
        queue,
        target.value,
        version=request.version,
        last_error=last_error,
        metadata=metadata,
    )
    return True


async def dispatch_merge(log: Log, batch: Batch) -> None:
    """A batch that just became `merging`: its members logged `speculated`, then merge asked.

    Per merging version: a batch sent back to speculating by an outdated landing merges again at
    a higher version, and that dispatch must not dedup against the first one."""
    await asyncio.gather(
        *(
            log.status(
                request_id,
                batch.queue,
                "speculated",
                occurrence=f"{batch.id}/{batch.version}",
                metadata={"batch_id": batch.id},
            )
            for request_id in batch.contains
        )
    )
    await log.ctx.publish(
        m.TOPIC_MERGE,
        batch.queue,
        intent_id(batch.id, "merge-dispatch", str(batch.version)),
        m.EntityRef(id=batch.id, queue=batch.queue),
    )
