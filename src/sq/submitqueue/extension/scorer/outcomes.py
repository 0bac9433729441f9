"""What the history scorer learns from: one record per finished batch, and where they are kept."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Protocol

from sq.submitqueue.entity.batch import Batch, BatchID


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchFeatures:
    """What is known about a batch before it is built: who wrote it, where, and how big it is.

    `areas` are the top-level directories its changes touch (`.` for root-level files).
    """

    author: str | None = None
    areas: frozenset[str] = field(default_factory=frozenset)
    lines_changed: int = 0


def top_level_area(path: str) -> str:
    """The first directory of a repository path; `.` for a root-level file."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    return parts[0] if len(parts) > 1 else "."


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchOutcome:
    batch_id: BatchID
    features: BatchFeatures
    succeeded: bool
    recorded_at_ms: int


class OutcomeStore(Protocol):
    """Durable outcomes of one queue's batches, in the order they were recorded.

    `append` stores an outcome once per batch id and returns False when that batch was already
    recorded (a redelivery), so recording is idempotent. `recent(limit)` returns the newest
    `limit` outcomes, oldest first. `prune(keep)` drops all but the newest `keep` and returns how
    many it dropped. Calls may block; implementations are safe to call from several threads.
    """

    def append(self, outcome: BatchOutcome) -> bool: ...

    def recent(self, limit: int) -> list[BatchOutcome]: ...

    def prune(self, keep: int) -> int: ...


class OutcomeSink(Protocol):
    """Told once a batch's fate is final: it landed (`succeeded`) or it failed to.

    Cancelled batches say nothing about their quality and are not reported. Called from a worker
    thread; may block; must tolerate the same batch twice (a redelivered conclusion).
    """

    def learn(self, batch: Batch, succeeded: bool, at_ms: int) -> bool: ...


class MemoryOutcomeStore:
    """An in-process store, for tests and the simulator. Not durable."""

    def __init__(self) -> None:
        self._outcomes: OrderedDict[BatchID, BatchOutcome] = OrderedDict()

    def append(self, outcome: BatchOutcome) -> bool:
        if outcome.batch_id in self._outcomes:
            return False
        self._outcomes[outcome.batch_id] = outcome
        return True

    def recent(self, limit: int) -> list[BatchOutcome]:
        if limit <= 0:
            return []
        return list(self._outcomes.values())[-limit:]

    def prune(self, keep: int) -> int:
        dropped = max(0, len(self._outcomes) - max(0, keep))
        for _ in range(dropped):
            self._outcomes.popitem(last=False)
        return dropped
