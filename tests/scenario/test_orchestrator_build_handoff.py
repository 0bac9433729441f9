"""A head's pending path is handed to the build stage once, however many speculate runs see it
pending before the build stage's link shows it building (at depth one more run usually does)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sq.platform.messagequeue import Delivery
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.orchestrator.controller.build import BuildController
from sq.submitqueue.orchestrator.controller.speculate import SpeculateController
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio


async def test_runs_before_the_build_stage_hand_a_pending_path_over_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, budget=1)
    runs_done = asyncio.Event()
    run, process = SpeculateController.run, BuildController.process

    async def run_twice(self: SpeculateController, queue: str, *, trigger: BatchID) -> None:
        await run(self, queue, trigger=trigger)
        await run(self, queue, trigger=trigger)  # another run, before the build stage starts
        runs_done.set()

    async def after_the_runs(self: BuildController, delivery: Delivery) -> None:
        await runs_done.wait()
        await process(self, delivery)

    monkeypatch.setattr(SpeculateController, "run", run_twice)
    monkeypatch.setattr(BuildController, "process", after_the_runs)
    await s.start()
    a = await s.land("a")
    await s.settle()
    assert len(s.store.messages(m.TOPIC_BUILD)) == 1, "two runs saw the path pending: one hand-off"
    assert s.builds() == 1
    await s.release()
    await s.stop()
    assert s.log.final(a) == "landed"
