"""Controllers and the outcome table that turns what they do into ack / retry / DLQ / hold.

A controller's `process(delivery)` returns to ack, calls `delivery.hold(seconds)` and returns to
come back later as a barrier, or raises: the error is classified once (platform/errs) — retryable
errors are retried with backoff, everything else is dead-lettered at once. A failure beats a hold.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import structlog

from sq.platform import errs
from sq.platform.consumer.gate import RECHECK_MS, Gate, NoopGate, ParkedDelivery, read_gate
from sq.platform.messagequeue import Delivery
from sq.platform.messagequeue.worker import Handler, WindowHandler
from sq.platform.metrics import stages as metrics

log = structlog.get_logger("sq.consumer")


class Controller(Protocol):
    """The business logic of one stage. Must be idempotent: deliveries are at-least-once."""

    @property
    def name(self) -> str: ...

    async def process(self, delivery: Delivery) -> None:
        """Handle one message. Return to ack; raise to fail (classified by platform/errs)."""


@runtime_checkable
class WindowController(Controller, Protocol):
    """A stage that can also handle several messages of one partition at once: one read and
    one write for a window instead of one per message (a deep queue's intake, a log burst)."""

    async def process_window(self, deliveries: Sequence[Delivery]) -> None:
        """Handle `deliveries` (two or more, in partition order) as `process` would one after
        another. Return to ack each (one it called `hold` on is held); raise, having finalized
        none, to have each handled alone by `process`, so that an error is classified, retried
        or dead-lettered per message. What it wrote before raising is written again by
        `process`, which is idempotent like every delivery."""


def controller_handler(
    controller: Controller,
    *,
    consumer_group: str,
    classifiers: Sequence[errs.Classifier] = errs.DEFAULT_CLASSIFIERS,
    gate: Gate | None = None,
    always_retry: bool = False,
) -> Handler:
    """Wrap a controller as a delivery handler: gate check, process, outcome (platform-spec §2.5).

    `always_retry` is for DLQ reconcilers: every error is retried, never dead-lettered again.
    """
    gate = gate or NoopGate()
    dlq_group = (
        consumer_group[: -len("-dlq")] if always_retry and consumer_group.endswith("-dlq") else None
    )
    run = _runner(controller, consumer_group, classifiers, always_retry=always_retry)

    async def handle(delivery: Delivery) -> None:
        _bind(controller, delivery)
        if dlq_group is not None and delivery.message.failed_group not in ("", dlq_group):
            delivery.ack()  # another group's dead letter: not ours to reconcile
            return
        if await _blocked(gate, consumer_group, delivery):
            return
        await run(delivery)

    return handle


def window_handler(
    controller: Controller,
    *,
    consumer_group: str,
    classifiers: Sequence[errs.Classifier] = errs.DEFAULT_CLASSIFIERS,
    gate: Gate | None = None,
) -> WindowHandler | None:
    """Wrap a `WindowController` as a window handler (None for any other controller): the gate
    checked per delivery, `process_window` on the open ones, the outcome of each as
    `controller_handler` gives it. A window that raises is handled again one delivery at a
    time, so that a bad message fails only itself."""
    if not isinstance(controller, WindowController):
        return None
    gate = gate or NoopGate()
    run = _runner(controller, consumer_group, classifiers, always_retry=False)
    labels = (controller.name, consumer_group)

    async def alone(delivery: Delivery) -> None:
        _bind(controller, delivery)
        await run(delivery)

    async def handle(deliveries: Sequence[Delivery]) -> None:
        open_ = [d for d in deliveries if not await _blocked(gate, consumer_group, d)]
        if len(open_) < 2:
            for delivery in open_:
                await alone(delivery)
            return
        structlog.contextvars.bind_contextvars(
            message_id=open_[0].message_id, attempt=open_[0].attempt, stage=controller.name
        )
        started = time.perf_counter()
        try:
            await controller.process_window(open_)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  each message is handled alone instead
            metrics.WINDOWS_FAILED.labels(*labels).inc()
            log.info(
                "window failed; handling its messages one by one",
                messages=len(open_),
                error=errs.attribution(exc).message,
            )
            for delivery in open_:
                delivery.clear_hold()
                await alone(delivery)
            return
        each = (time.perf_counter() - started) / len(open_)
        for delivery in open_:
            metrics.PROCESSING.labels(*labels).observe(each)
            metrics.PROCESSED.labels(*labels).inc()
            _settle(delivery)

    return handle


def _bind(controller: Controller, delivery: Delivery) -> None:
    structlog.contextvars.bind_contextvars(
        message_id=delivery.message_id, attempt=delivery.attempt, stage=controller.name
    )


def _runner(
    controller: Controller,
    consumer_group: str,
    classifiers: Sequence[errs.Classifier],
    *,
    always_retry: bool,
) -> Handler:
    """`process` one open delivery and turn what happened into its outcome."""
    labels = (controller.name, consumer_group)

    async def run(delivery: Delivery) -> None:
        started = time.perf_counter()
        try:
            await controller.process(delivery)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001  every failure goes through the outcome table
            metrics.PROCESSING.labels(*labels).observe(time.perf_counter() - started)
            verdict = (
                errs.Verdict.INFRA_RETRYABLE if always_retry else errs.verdict_of(exc, classifiers)
            )
            failure = errs.attribution(exc)
            if delivery.hold_ms is not None:
                log.warning("hold ignored because the controller failed")
            if errs.is_retryable(verdict) and errs.is_outage(exc):
                log.info("database unreachable; postponed", error=failure.message)
                metrics.FAILED.labels(*labels).inc()
                delivery.postpone(errs.OUTAGE_RETRY_MS)
            elif errs.is_retryable(verdict):
                log.info("retryable failure", error=failure.message, verdict=str(verdict))
                metrics.FAILED.labels(*labels).inc()
                if delivery.nack_dead_letters:  # its retries are spent: it goes to the DLQ
                    metrics.DEAD_LETTERED.labels(*labels).inc()
                delivery.nack(failure, not_before_ms=errs.retry_after_ms(exc))
            else:
                log.warning("failure; dead-lettering", error=failure.message, verdict=str(verdict))
                metrics.DEAD_LETTERED.labels(*labels).inc()
                delivery.reject(failure)
            return
        metrics.PROCESSING.labels(*labels).observe(time.perf_counter() - started)
        metrics.PROCESSED.labels(*labels).inc()
        _settle(delivery)

    return run


def _settle(delivery: Delivery) -> None:
    if delivery.hold_ms is not None:
        delivery.postpone(delivery.hold_ms)
    else:
        delivery.ack()


async def _blocked(gate: Gate, consumer_group: str, delivery: Delivery) -> bool:
    message = delivery.message
    try:
        closed = await read_gate(gate, consumer_group, message.partition_key)
    except Exception:
        log.warning("gate unreadable; failing open", exc_info=True)
        return False
    try:
        if closed:
            await asyncio.to_thread(
                gate.park,
                ParkedDelivery(
                    consumer_group=consumer_group,
                    topic=message.topic,
                    partition_key=message.partition_key,
                    message_id=message.message_id,
                    payload=message.payload,
                    attempt=delivery.attempt,
                    parked_at_ms=delivery.received_at_ms,
                ),
            )
        elif delivery.redelivered and message.seq:
            # Only a message handed out before can have been parked (it was postponed, or its
            # process died before postponing it); a first delivery costs the gate no write.
            await asyncio.to_thread(
                gate.unpark,
                consumer_group,
                message.topic,
                message.partition_key,
                message.message_id,
            )
    except Exception:
        log.warning("parking record not written", exc_info=True)
    if closed:
        delivery.postpone(RECHECK_MS)
    return closed
