"""Pending-failure depth in the real orchestrator (fake builds, noop merger).

A and B conflict; with the standard speculator and a budget of 3, A is built alone and B both on
A and without A. A's own build fails and B without A fails; B on A (the tree base + A + B)
passes. With a depth of 1, A waits for B's build and both land in that one tree, as one merge;
with a depth of 0, A fails at once, as it always did.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildRequest, BuildState
from sq.platform.clock import Clock
from sq.runway.extension.merger import MergeInput, MergeResult
from sq.runway.extension.merger.noop import NoopMerger
from sq.submitqueue.extension.scorer import Scorer
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio

A, B = "q/batch/1", "q/batch/2"


class CountingMerger(NoopMerger):
    """Records every landing (not conflict checks): the URIs of its changes, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.landings: list[list[str]] = []

    async def merge(self, request: MergeInput) -> MergeResult:
        if not request.dry_run:
            self.landings.append([c.uri for c in request.changes])
        return await super().merge(request)


def on_a(request: BuildRequest) -> bool:
    return any("/a" in layer.name for layer in request.layers)


async def started(tmp_path: Path, depth: int) -> tuple[Stack, CountingMerger]:
    merger = CountingMerger()
    stack = Stack(tmp_path, budget=3, merger=merger, pending_failure_depth=depth)
    await stack.start()
    return stack, merger


async def fail_a(s: Stack) -> None:
    for request in s.runner.running():
        if request.labels["head"] == A:
            s.runner.finish(request.build_id, BuildState.FAILED)
    await s.settle()


async def finish_b(s: Stack, *, on_a_passes: bool) -> None:
    for request in s.runner.running():
        if request.labels["head"] == B:
            passes = on_a(request) and on_a_passes
            s.runner.finish(request.build_id, BuildState.PASSED if passes else BuildState.FAILED)
    await s.settle()


async def test_a_failed_change_lands_inside_the_passing_build_behind_it(tmp_path: Path) -> None:
    s, merger = await started(tmp_path, depth=1)
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    assert len(s.runner.running()) == 3  # A[], B[A=s], B[A=f]
    await fail_a(s)
    assert s.log.final(a) is None  # pending: B's build on A still runs
    assert s.log.events(a).count("pending-failure") == 1
    await finish_b(s, on_a_passes=True)
    assert s.order_landed() == [a, b]
    assert len(merger.landings) == 1  # one push: A's change ahead of B's
    assert [uri.rsplit("/", 1)[-1] for uri in merger.landings[0]] == ["a", "b"]
    assert s.batch_state(A) == s.batch_state(B) == "succeeded"
    assert s.dead_letters() == []
    await s.stop()


async def test_without_depth_the_failed_change_fails_at_once(tmp_path: Path) -> None:
    s, merger = await started(tmp_path, depth=0)
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    await fail_a(s)
    assert s.log.final(a) == "error"
    await s.release()
    assert s.order_landed() == [b]
    assert len(merger.landings) == 1
    await s.stop()


async def test_the_failed_change_fails_once_nothing_behind_it_passes(tmp_path: Path) -> None:
    s, merger = await started(tmp_path, depth=1)
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    await fail_a(s)
    assert s.log.final(a) is None
    await finish_b(s, on_a_passes=False)
    assert s.log.final(a) == "error"
    assert s.log.final(b) == "error"
    assert s.order_landed() == []
    assert merger.landings == []
    await s.stop()


class CancellingMerger(CountingMerger):
    """Asks to cancel `victim` while the landing that carries it is under way."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: Stack | None = None
        self.victim = ""

    async def merge(self, request: MergeInput) -> MergeResult:
        if not request.dry_run and self.stack is not None:
            await self.stack.cancel(self.victim, "too late")
        return await super().merge(request)


async def test_a_cancel_during_the_carrying_landing_does_not_undo_it(tmp_path: Path) -> None:
    merger = CancellingMerger()
    s = Stack(tmp_path, budget=3, merger=merger, pending_failure_depth=1)
    await s.start()
    a = await s.land("a")
    b = await s.land("b")
    merger.stack, merger.victim = s, a
    await s.settle()
    await fail_a(s)
    await finish_b(s, on_a_passes=True)
    assert s.order_landed() == [a, b]
    assert s.batch_state(A) == s.batch_state(B) == "succeeded"
    assert s.dead_letters() == []
    await s.stop()


def value_speculator(scorer: Scorer, budget: int, clock: Clock) -> ValueSpeculator:
    return ValueSpeculator(scorer, ValueSettings(budget=budget, threshold=0.1), clock=clock.now_ms)


async def test_the_value_speculator_carries_it_too(tmp_path: Path) -> None:
    # It builds A[] and B[A=s] only (B[A=f] is below the threshold until A's build fails).
    merger = CountingMerger()
    s = Stack(
        tmp_path, budget=4, merger=merger, speculator=value_speculator, pending_failure_depth=1
    )
    await s.start()
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    assert len(s.runner.running()) == 2
    await fail_a(s)
    assert s.log.final(a) is None
    await finish_b(s, on_a_passes=True)
    await s.release()
    assert s.order_landed() == [a, b]
    assert len(merger.landings) == 1
    await s.stop()
