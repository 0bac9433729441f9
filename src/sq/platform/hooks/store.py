"""What a host remembers about its hook events: which were delivered (so a repeated delivery is
not sent again) and which could not be delivered (so an operator can see and replay them)."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class UndeliverableEvent:
    """A hook event its sink never accepted, as the hook DLQ reconciler recorded it."""

    event_id: str
    """The event's id; the message id when the event was too malformed to have one."""
    source: str
    type: str
    subject: str
    event: str
    """The complete event as JSON text (the raw payload when it was malformed)."""
    reason: str
    failed_at_ms: int
    attempts: int
    message_id: str
    recorded_at_ms: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class UndeliverableNotFoundError(LookupError):
    """No undeliverable event has that id."""


class HookStore(Protocol):
    """The host's hook records. Blocking calls (run them in a thread); each is one transaction
    and safe to call concurrently from several processes."""

    def is_delivered(self, event_id: str) -> bool: ...

    def mark_delivered(self, event_id: str, at_ms: int) -> None:
        """Idempotent."""

    def prune_delivered(self, before_ms: int) -> int:
        """Forget deliveries older than `before_ms`; returns how many."""

    def record_undeliverable(self, record: UndeliverableEvent) -> None:
        """Insert, or replace the earlier record of the same event id."""

    def undeliverable(
        self, source: str | None = None, limit: int = 500
    ) -> list[UndeliverableEvent]:
        """Newest first."""

    def get_undeliverable(self, event_id: str) -> UndeliverableEvent | None: ...

    def remove_undeliverable(self, event_id: str, recorded_at_ms: int) -> bool:
        """Remove the record only if it is still the one recorded at `recorded_at_ms`."""


class MemoryHookStore:
    """The in-process HookStore, for tests and embedded use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._delivered: dict[str, int] = {}
        self._undeliverable: dict[str, UndeliverableEvent] = {}

    def is_delivered(self, event_id: str) -> bool:
        with self._lock:
            return event_id in self._delivered

    def mark_delivered(self, event_id: str, at_ms: int) -> None:
        with self._lock:
            self._delivered.setdefault(event_id, at_ms)

    def prune_delivered(self, before_ms: int) -> int:
        with self._lock:
            old = [k for k, at in self._delivered.items() if at < before_ms]
            for key in old:
                del self._delivered[key]
            return len(old)

    def record_undeliverable(self, record: UndeliverableEvent) -> None:
        with self._lock:
            self._undeliverable[record.event_id] = record

    def undeliverable(
        self, source: str | None = None, limit: int = 500
    ) -> list[UndeliverableEvent]:
        with self._lock:
            rows = [r for r in self._undeliverable.values() if source in (None, r.source)]
        rows.sort(key=lambda r: (r.recorded_at_ms, r.event_id), reverse=True)
        return rows[:limit]

    def get_undeliverable(self, event_id: str) -> UndeliverableEvent | None:
        with self._lock:
            return self._undeliverable.get(event_id)

    def remove_undeliverable(self, event_id: str, recorded_at_ms: int) -> bool:
        with self._lock:
            found = self._undeliverable.get(event_id)
            if found is None or found.recorded_at_ms != recorded_at_ms:
                return False
            del self._undeliverable[event_id]
            return True
