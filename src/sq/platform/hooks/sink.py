"""Where hook events go: the `HookSink` seam, its errors, and the log and composite sinks."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import structlog

from sq.platform import errs
from sq.platform.hooks.event import HookEvent

log = structlog.get_logger("sq.hooks")


class HookDeliveryError(errs.RetryableDependencyError):
    """A sink could not deliver now (5xx, timeout, refused connection); the queue retries."""


class PermanentHookError(errs.DependencyError):
    """A sink refused the event for good (a 4xx other than 408/429); it goes to undeliverable."""


class HookSink(Protocol):
    """Receives hook events.

    At-least-once: the same event (same `id`) may arrive more than once and must be handled
    idempotently by its id. Return to acknowledge; ignoring an event is returning. Raise
    `HookDeliveryError` to be retried with backoff, `PermanentHookError` (or anything
    unclassified) to give up at once. A sink never writes pipeline state.
    """

    async def handle(self, event: HookEvent) -> None: ...


def sink_name(sink: HookSink) -> str:
    name = getattr(sink, "name", "")
    return name if isinstance(name, str) and name else type(sink).__name__


class LogHookSink:
    """Writes one structured log line per event: hooks are on, and nothing is lost silently."""

    def __init__(self, name: str = "log") -> None:
        self.name = name

    async def handle(self, event: HookEvent) -> None:
        log.info(
            "hook event",
            sink=self.name,
            event_id=event.id,
            source=event.source,
            event_type=event.type,
            version=event.version,
            timestamp_ms=event.timestamp_ms,
            payload=event.payload,
        )


class CompositeHookSink:
    """Runs every child (concurrently) and joins their errors, naming the children that failed.

    Children share one retry budget: when any failure is retryable the whole event is retried, and
    the children that succeeded see it again (they are idempotent by id).
    """

    def __init__(self, children: Sequence[HookSink], name: str = "composite") -> None:
        self.children = tuple(children)
        self.name = name

    async def handle(self, event: HookEvent) -> None:
        results = await asyncio.gather(
            *(child.handle(event) for child in self.children), return_exceptions=True
        )
        failed: list[tuple[str, Exception]] = []
        for child, result in zip(self.children, results, strict=True):
            if isinstance(result, Exception):
                failed.append((sink_name(child), result))
            elif isinstance(result, BaseException):
                raise result
        if not failed:
            return
        message = "; ".join(f"{name}: {exc}" for name, exc in failed)
        retryable = any(
            errs.is_retryable(errs.verdict_of(exc, errs.DEFAULT_CLASSIFIERS)) for _, exc in failed
        )
        joined = ExceptionGroup(message, [exc for _, exc in failed])
        if retryable:
            raise HookDeliveryError(f"hook sinks failed: {message}") from joined
        raise PermanentHookError(f"hook sinks failed: {message}") from joined
