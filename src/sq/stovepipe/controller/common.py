"""The consumer preamble (spec §2.0) and the slot release every terminal path performs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import replace

import structlog

from sq.platform import errs
from sq.platform.messagequeue import Delivery
from sq.stovepipe.controller.cas import swap
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import Queue, Request
from sq.stovepipe.messages import EntityMessage, decode
from sq.stovepipe.storage import NotFoundError

log = structlog.get_logger("sq.stovepipe")


class InvariantError(Exception):
    """Stored state contradicts what a stage was promised (never retried)."""


@contextlib.contextmanager
def about(request_id: str) -> Iterator[None]:
    """Attribute any failure inside to the request (DLQ entries then name it)."""
    try:
        yield
    except Exception as exc:
        errs.attribute(exc, errs.Subject(type="stovepipe_request", id=request_id))
        raise


def message_of(delivery: Delivery) -> EntityMessage:
    try:
        payload = delivery.json()
    except ValueError as exc:
        raise errs.UserError("malformed payload: not JSON") from exc
    return decode(payload)


def check_queue(message: EntityMessage, request: Request) -> None:
    if message.queue_name != request.queue:
        raise errs.UserError(
            f"payload queue {message.queue_name!r} is not {request.id}'s queue {request.queue!r}"
        )


async def load_request(deps: Deps, message: EntityMessage, rid: str | None = None) -> Request:
    request = await asyncio.to_thread(
        deps.storage.get_request, message.queue_name, rid or message.id
    )
    check_queue(message, request)
    return request


async def release_slot(deps: Deps, queue: str) -> None:
    """Decrement the queue's in-flight count, clamped at zero (spec §2.4 6.a.i)."""

    async def release(row: Queue) -> Queue | None:
        if row.in_flight_count <= 0:
            return None
        return replace(row, in_flight_count=row.in_flight_count - 1)

    with contextlib.suppress(NotFoundError):
        await swap(
            f"queue {queue}: releasing a slot",
            lambda: deps.storage.get_queue(queue),
            release,
            deps.storage.update_queue,
        )


async def release_slot_best_effort(deps: Deps, queue: str) -> None:
    try:
        await release_slot(deps, queue)
    except Exception:  # compensation only: the caller's own outcome matters more
        log.warning("could not release a slot", queue=queue, exc_info=True)
