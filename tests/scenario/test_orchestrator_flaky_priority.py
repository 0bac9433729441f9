"""Operator controls in the real orchestrator: flaky-build retry and the priority lane."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.submitqueue.entity.batch import Priority
from support.exact_merger import ExactMerger
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio


async def started(tmp_path: Path, **kw: object) -> Stack:
    stack = Stack(tmp_path, **kw)  # type: ignore[arg-type]
    await stack.start()
    return stack


async def test_a_build_that_fails_once_lands_after_one_flaky_retry(tmp_path: Path) -> None:
    s = await started(tmp_path, flaky_retries=1)
    a = await s.land("a")
    await s.settle()
    [first] = s.runner.running()
    s.runner.finish(first.build_id, BuildState.FAILED)  # a flake
    await s.settle()
    [second] = s.runner.running()
    assert second.build_id.endswith("/2")  # the same path, attempt 2
    await s.release()
    assert s.log.final(a) == "landed"
    assert s.builds() == 2
    retried = [e for e in s.log.entries if e.event == "build-retried"]
    assert [(e.metadata["attempt"], e.metadata["retry"]) for e in retried] == [("2", "1")]
    assert s.log.events(a).index("build-failed") < s.log.events(a).index("build-retried")
    await s.stop()


async def test_without_flaky_retries_the_first_failure_fails_the_change(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    [first] = s.runner.running()
    s.runner.finish(first.build_id, BuildState.FAILED)
    await s.settle()
    assert s.runner.running() == []
    assert s.log.final(a) == "error"
    assert "build-retried" not in s.log.events(a)
    await s.stop()


async def test_a_build_failing_past_its_retries_fails_the_change(tmp_path: Path) -> None:
    s = await started(tmp_path, flaky_retries=2)
    a = await s.land("a", fake="build-fail")  # fails every time: not a flake
    await s.settle()
    for _ in range(4):
        await s.release()
    assert s.log.final(a) == "error"
    assert s.builds() == 3  # the first build and two retries
    assert s.log.events(a).count("build-retried") == 2
    await s.stop()


async def _lanes(tmp_path: Path, urgent: Priority) -> tuple[Stack, ExactMerger, list[str]]:
    """A and B (normal, conflicting) are building when H arrives with `urgent` priority."""
    merger = ExactMerger()
    s = await started(tmp_path, merger=merger, target_head=merger.target_head)
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    h = await s.land("h", priority=urgent)
    await s.settle()
    first = s.running_heads()[0]  # A's batch: its build passes while H's still runs
    await s.release(which=lambda r: r.labels["head"] == first)
    for _ in range(8):
        await s.release()
    return s, merger, [a, b, h]


async def test_a_high_priority_request_lands_before_earlier_conflicting_normal_ones(
    tmp_path: Path,
) -> None:
    s, merger, (a, b, h) = await _lanes(tmp_path, Priority.HIGH)
    assert s.order_landed() == [h, a, b]
    assert merger.landings[0].assumed == ()  # H was built alone on the trunk it landed on
    assert merger.outdated >= 1  # A's first build was on a trunk without H: built again
    assert len(merger.landings) == 3  # every landing passed the exact-tree check
    await s.stop()


async def test_a_normal_request_waits_its_turn(tmp_path: Path) -> None:
    s, merger, (a, b, h) = await _lanes(tmp_path, Priority.NORMAL)
    assert s.order_landed() == [a, b, h]
    assert merger.outdated == 0
    await s.stop()
