"""The orchestrator's storage: plain synchronous SQLAlchemy Core, one transaction per function,
compare-and-swap on `version` (a lost race raises `VersionMismatchError`). Call it from asyncio
through `asyncio.to_thread`."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import Engine

from sq.platform.counter import Counter
from sq.platform.migrations import SchemaSet
from sq.submitqueue.core.controls_sql import ControlStore
from sq.submitqueue.orchestrator.storage.batches import BatchStore
from sq.submitqueue.orchestrator.storage.buildruns import BuildRunStore
from sq.submitqueue.orchestrator.storage.intake import Creation, Intake, IntakeStore
from sq.submitqueue.orchestrator.storage.requests import AlreadyExistsError, RequestStore
from sq.submitqueue.orchestrator.storage.snapshot import QueueRows, SnapshotStore
from sq.submitqueue.orchestrator.storage.tables import metadata, queue_control
from sq.submitqueue.orchestrator.storage.waiting import WaitingRow, WaitStore

__all__ = [
    "AlreadyExistsError",
    "BatchStore",
    "BuildRunStore",
    "Creation",
    "Intake",
    "IntakeStore",
    "OrchestratorStorage",
    "QueueRows",
    "RequestStore",
    "SnapshotStore",
    "WaitStore",
    "WaitingRow",
    "schema",
]


def schema() -> SchemaSet:
    return SchemaSet(
        name="orchestrator", directory=Path(__file__).parent / "versions", metadata=metadata
    )


class OrchestratorStorage(RequestStore, IntakeStore, BatchStore, BuildRunStore, WaitStore):
    """Every orchestrator table on one engine, plus the batch-id counter."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.counter = Counter(engine)
        self.controls = ControlStore(engine, queue_control)

    def next_batch_number(self, queue: str) -> int:
        return self.counter.next(queue, "batch")
