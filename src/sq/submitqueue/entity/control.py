"""What an operator set for a queue: active, paused (speculation funds no new build; builds that
run finish, and land if they pass) or draining (no new request is accepted; what is in flight
lands)."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class QueueMode(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DRAINING = "draining"


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueControl:
    queue: str
    mode: QueueMode = QueueMode.ACTIVE
    version: int = 0
    """Raised by one on every change; orders the changes the orchestrator is told about."""
    reason: str = ""
    changed_at_ms: int = 0


def starts_new_work(mode: QueueMode) -> bool:
    """Whether speculation may fund new builds."""
    return mode is not QueueMode.PAUSED


def accepts_requests(mode: QueueMode) -> bool:
    return mode is not QueueMode.DRAINING
