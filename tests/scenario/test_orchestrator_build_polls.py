"""Build polls: a runner that reports each build's end itself is polled only as a backstop, and
a build the speculate run wants stopped is told at once, not at its next poll (issue 16: no
polling where the system itself knows the answer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.submitqueue.orchestrator.controller.buildsignal import BuildSignalController
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio


async def polls_of_a_running_build(tmp_path: Path, *, reports_end: bool) -> int:
    s = Stack(tmp_path, reports_end=reports_end)
    seen: list[str] = []
    original = BuildSignalController.process

    async def counted(self: BuildSignalController, delivery) -> None:  # type: ignore[no-untyped-def]
        seen.append(delivery.message_id)
        await original(self, delivery)

    BuildSignalController.process = counted  # type: ignore[method-assign]
    try:
        await s.start()
        a = await s.land("a")
        await s.settle()
        assert len(s.runner.running()) == 1
        before = len(seen)
        for _ in range(60):  # one minute, a second at a time
            await s.h.advance(1.0)
        polls = len(seen) - before
        s.runner.release()
        await s.h.advance(31.0)
        await s.settle()
        assert s.log.final(a) == "landed"
    finally:
        BuildSignalController.process = original  # type: ignore[method-assign]
        await s.stop()
    return polls


async def test_a_runner_that_reports_ends_is_polled_only_as_a_backstop(tmp_path: Path) -> None:
    polled = await polls_of_a_running_build(tmp_path / "polled", reports_end=False)
    told = await polls_of_a_running_build(tmp_path / "told", reports_end=True)
    # Every 2 s for a minute against every 30 s (the backstop, for an owner that died).
    assert polled >= 25
    assert told <= 3
    assert told >= 1  # the backstop still looks


async def test_a_preempted_build_is_stopped_without_waiting_for_its_poll(tmp_path: Path) -> None:
    s = Stack(tmp_path, budget=1, reports_end=True)
    await s.start()
    a = await s.land("a")
    await s.settle()
    [build] = s.runner.running()
    await s.cancel(a)
    # The speculate run waits 0.1 s for the rest of its burst; the build's poll is 30 s away.
    await s.h.advance(1.0)
    assert s.runner.cancelled == [build.build_id]
    await s.settle()
    assert s.log.final(a) == "cancelled"
    await s.stop()


async def test_a_build_of_a_head_that_failed_is_stopped_without_waiting_for_its_poll(
    tmp_path: Path,
) -> None:
    # B is built on A and without A. B's build on A fails; then A lands, which fails B and makes
    # its build without A moot in the same run: that build is stopped now, not at its next poll.
    s = Stack(tmp_path)
    await s.start()
    await s.land("a")
    b = await s.land("b")
    await s.settle()
    on_b = [r for r in s.runner.running() if r.labels["head"] != "q/batch/1"]
    [on_a] = [r for r in on_b if any("/a" in layer.name for layer in r.layers)]
    [without_a] = [r for r in on_b if r is not on_a]
    s.runner.finish(on_a.build_id, BuildState.FAILED)
    s.runner.release(lambda r: r.labels["head"] == "q/batch/1")
    for _ in range(100):  # ten seconds at most, in the 0.1 s steps of the speculate runs
        await s.h.advance(0.1)
        if s.log.final(b) == "error":
            break
    assert s.log.final(b) == "error"
    await s.h.advance(0.5)  # well within the 2 s between two polls of a running build
    assert s.runner.cancelled == [without_a.build_id]
    await s.stop()
