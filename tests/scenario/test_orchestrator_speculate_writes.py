"""A speculate run's cost does not grow with the batches it admits or the heads whose path sets it
saves: it writes them in one transaction each, whatever their number."""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.orchestrator.controller.speculate import SpeculateController
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio

REQUESTS = 16
MOST_TRANSACTIONS = 8
"""The read, the requests of the admitted batches, their admission, the path sets, and a few
for a verdict: a fixed number, not one or two per head."""
_counting: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "counting", default=None
)


async def test_a_run_writes_in_a_fixed_number_of_transactions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, budget=REQUESTS)
    runs: list[int] = []  # transactions per run

    def count(*_: Any) -> None:
        counter = _counting.get()
        if counter is not None:
            counter[0] += 1

    sa.event.listen(s.storage.engine, "begin", count)
    original = SpeculateController.run

    async def run(self: SpeculateController, queue: str, *, trigger: BatchID) -> None:
        counter = [0]
        token = _counting.set(counter)  # storage runs on threads, which copy the context
        try:
            await original(self, queue, trigger=trigger)
        finally:
            _counting.reset(token)
        runs.append(counter[0])

    monkeypatch.setattr(SpeculateController, "run", run)
    await s.start()
    ids = [await s.land(f"c{i}") for i in range(REQUESTS)]
    await s.settle()
    assert len(s.running_heads()) >= REQUESTS // 2, "one run admitted and funded many heads"
    await s.release()
    await s.stop()
    assert [s.log.final(r) for r in ids] == ["landed"] * REQUESTS
    assert max(runs) <= MOST_TRANSACTIONS, runs
