"""A stage's cost does not grow with the heads in flight: the build stage starts a head's paths
in a constant number of statements, however many changes ahead each path assumes."""

from __future__ import annotations

import contextvars
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sq.platform.messagequeue import Delivery
from sq.submitqueue.orchestrator.controller.build import BuildController
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio

REQUESTS = 12
BUDGET = 4
MOST_STATEMENTS = 8 + 4 * BUDGET
"""Reading the head and its links, then at most four statements (a transaction's BEGIN counted)
for each of the at most BUDGET paths it starts: nothing grows with the paths' depth."""
_counting: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "counting", default=None
)


async def test_the_build_stage_reads_a_deep_path_in_as_many_statements_as_a_shallow_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, budget=BUDGET)
    runs: list[int] = []  # statements per build-stage delivery

    def count(*_: Any) -> None:
        counter = _counting.get()
        if counter is not None:
            counter[0] += 1

    sa.event.listen(s.storage.engine, "before_cursor_execute", count)
    original = BuildController.process

    async def process(self: BuildController, delivery: Delivery) -> None:
        counter = [0]
        token = _counting.set(counter)  # storage runs on threads, which copy the context
        try:
            await original(self, delivery)
        finally:
            _counting.reset(token)
        runs.append(counter[0])

    monkeypatch.setattr(BuildController, "process", process)
    await s.start()
    ids = [await s.land(f"c{i}") for i in range(REQUESTS)]
    await s.settle()
    for _ in range(REQUESTS):
        await s.release()
    await s.stop()
    assert [s.log.final(r) for r in ids] == ["landed"] * REQUESTS
    assert max(len(r.layers) for r in s.runner.triggered) >= REQUESTS // 2, "deep paths were built"
    assert max(runs) <= MOST_STATEMENTS, runs
