"""Early landing when covered, in the real orchestrator (fake builds, noop merger).

A and B conflict; with the standard speculator and a budget of 3, B is built both on A and
without A. Both pass while A still builds: B's passed builds cover every outcome of A, so with
`early_landing` B lands first, on its build without A; without it, B waits for A. (That A is
then built again before it lands, since its build never contained B, needs runway's exact-tree
check: tests/integration/test_git_early_landing.py.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildRequest, BuildState
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio

A, B = "q/batch/1", "q/batch/2"


def head_is(batch: str):  # type: ignore[no-untyped-def]
    def which(request: BuildRequest) -> bool:
        return request.labels["head"] == batch

    return which


async def started(tmp_path: Path, *, early_landing: bool) -> Stack:
    stack = Stack(tmp_path, budget=3, early_landing=early_landing)
    await stack.start()
    return stack


async def test_a_covered_change_lands_ahead_of_its_dependency(tmp_path: Path) -> None:
    s = await started(tmp_path, early_landing=True)
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    assert sorted(s.running_heads()) == [A, B]
    assert len(s.runner.running()) == 3  # A[], B[A=s], B[A=f]
    await s.release(which=head_is(B))
    assert s.order_landed() == [b]
    assert [r.labels["head"] for r in s.runner.running()] == [A]  # A still builds
    await s.release()
    assert s.order_landed() == [b, a]
    assert s.builds() == 3
    assert s.dead_letters() == []
    await s.stop()


async def test_without_early_landing_it_waits_for_its_dependency(tmp_path: Path) -> None:
    s = await started(tmp_path, early_landing=False)
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    await s.release(which=head_is(B))
    assert s.order_landed() == []
    await s.release()
    assert s.order_landed() == [a, b]
    assert s.dead_letters() == []
    await s.stop()


async def test_a_change_covered_only_one_way_waits(tmp_path: Path) -> None:
    s = await started(tmp_path, early_landing=True)
    a = await s.land("a")
    b = await s.land("b")
    await s.settle()
    for request in s.runner.running():
        if request.labels["head"] == B:  # B on A fails, B without A passes: not covered
            on_a = any("/a" in layer.name for layer in request.layers)
            s.runner.finish(request.build_id, BuildState.FAILED if on_a else BuildState.PASSED)
    await s.settle()
    assert s.order_landed() == []
    await s.release()
    assert s.order_landed() == [a]
    assert s.log.final(b) == "error"
    await s.stop()


@pytest.mark.parametrize("a_passes", [True, False])
async def test_the_early_heads_dependent_lands_whether_the_dependency_lands_or_fails(
    tmp_path: Path, a_passes: bool
) -> None:
    # A, B, C all conflict; budget 8 funds every future: A[], B's two, C's four.
    s = Stack(tmp_path, budget=8, early_landing=True)
    await s.start()
    a, b, c = [await s.land(n) for n in "abc"]
    await s.settle()
    assert len(s.runner.running()) == 7
    await s.release(which=head_is(B))
    assert s.order_landed() == [b]
    for request in s.runner.running():
        if request.labels["head"] == A:
            s.runner.finish(request.build_id, BuildState.PASSED if a_passes else BuildState.FAILED)
    await s.settle()
    await s.release()
    assert s.order_landed() == ([b, a, c] if a_passes else [b, c])
    assert s.log.final(a) == ("landed" if a_passes else "error")
    assert s.dead_letters() == []
    await s.stop()
