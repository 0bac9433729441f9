"""Pause, resume and drain a queue: the gateway stores the operator's choice, refuses new
requests while a queue drains, and tells the orchestrator through the queue (`queue-control`),
which stops funding builds while a queue is paused (doc/operating.md)."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Mapping

import structlog

from sq.platform.clock import Clock
from sq.platform.errs import VersionMismatchError
from sq.platform.publish import intent_id
from sq.submitqueue.core.controls_sql import ControlStore
from sq.submitqueue.core.messages import TOPIC_CONTROL, QueueControlChange
from sq.submitqueue.entity.control import QueueControl, QueueMode, accepts_requests
from sq.submitqueue.gateway import validation
from sq.submitqueue.gateway.errors import GatewayError, UnavailableError
from sq.submitqueue.gateway.service import Publisher
from sq.submitqueue.gateway.validation import QueueInfo

log = structlog.get_logger(__name__)
_ATTEMPTS = 5
FRESH_S = 1.0
"""How long a land trusts the mode it last read: a read per land cost about a tenth of a land on
SQLite (doc/operating.md), and another gateway instance's drain is seen within this delay."""


class QueueDrainingError(GatewayError):
    status = 409
    code = "queue_draining"


class QueueControls:
    def __init__(
        self,
        store: ControlStore,
        queues: Mapping[str, QueueInfo],
        publisher: Publisher,
        clock: Clock,
    ) -> None:
        self.store, self.queues, self.publisher, self.clock = store, queues, publisher, clock
        self._read: dict[str, tuple[float, QueueMode]] = {}

    async def get(self, queue: str) -> QueueControl:
        validation.check_queue(self.queues, queue, in_path=True)
        return await asyncio.to_thread(self.store.get_control, queue)

    async def all(self) -> list[QueueControl]:
        stored = {c.queue: c for c in await asyncio.to_thread(self.store.list_controls)}
        return [stored.get(name, QueueControl(queue=name)) for name in sorted(self.queues)]

    async def check_accepts(self, queue: str) -> None:
        """Raise QueueDrainingError when `queue` takes no new request (as read at most FRESH_S
        ago; a change made through this instance is seen at once)."""
        now = time.monotonic()
        read = self._read.get(queue)
        if read is None or now - read[0] > FRESH_S:
            control = await asyncio.to_thread(self.store.get_control, queue)
            read = self._read[queue] = (now, control.mode)
        if not accepts_requests(read[1]):
            raise QueueDrainingError(
                f"queue {queue} is draining: it lands what it holds and accepts nothing new"
                " until an admin resumes it"
            )

    async def set_mode(self, queue: str, mode: QueueMode, reason: str = "") -> QueueControl:
        """Store the new mode, then tell the orchestrator. Setting the mode it already has
        publishes again (harmless: the orchestrator ignores versions it has seen), so a retry
        after a failed publish reaches it."""
        validation.check_queue(self.queues, queue, in_path=True)
        for _ in range(_ATTEMPTS):
            current = await asyncio.to_thread(self.store.get_control, queue)
            self._read[queue] = (time.monotonic(), current.mode)
            if current.mode is mode and current.version > 0:
                await self._publish(current)
                return current
            wanted = dataclasses.replace(
                current,
                mode=mode,
                version=current.version + 1,
                reason=reason,
                changed_at_ms=self.clock.now_ms(),
            )
            try:
                saved = await asyncio.to_thread(
                    self.store.save_control, wanted, expected_version=current.version
                )
            except VersionMismatchError:
                continue
            self._read[queue] = (time.monotonic(), saved.mode)
            log.info("queue mode changed", queue=queue, mode=mode.value, version=saved.version)
            await self._publish(saved)
            return saved
        raise UnavailableError(f"queue {queue}'s mode kept changing under this call; try again")

    async def _publish(self, control: QueueControl) -> None:
        message = QueueControlChange(
            queue=control.queue,
            mode=control.mode.value,
            version=control.version,
            reason=control.reason,
            changed_at_ms=control.changed_at_ms,
        )
        try:
            await self.publisher.publish(
                TOPIC_CONTROL,
                control.queue,
                intent_id(control.queue, "control", str(control.version)),
                message,
            )
        except Exception as exc:
            raise UnavailableError("the message queue is unavailable; try again") from exc
