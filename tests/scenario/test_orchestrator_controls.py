"""Operator controls in the real orchestrator: flaky-build retry."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildState
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
