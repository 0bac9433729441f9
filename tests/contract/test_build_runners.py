"""One behaviour for every BuildRunner: the fake, the local command runner, and the Buildkite and
GitHub Actions runners against their local stand-ins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sq.platform.build import BuildState, TreeLayer, UnknownBuildError
from support.build_runners import FAIL, HANG, KINDS, PASS, Harness, harness

pytestmark = pytest.mark.anyio


@pytest.fixture(params=KINDS)
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(request.param, tmp_path) as built:
        yield built


def needs_a_tree(h: Harness) -> None:
    if h.kind == "fake":
        pytest.skip("the fake runner builds no tree")


async def test_a_passing_build_passes_and_leaves_no_queue_ref(h: Harness) -> None:
    started = await h.runner.trigger(h.request("b-pass"))
    assert (started.build_id == "b-pass" and not started.state.finished) or h.kind == "fake"
    status = await h.settle("b-pass")
    assert status.state is BuildState.PASSED
    assert h.queue_refs() == []


async def test_a_failing_build_fails_with_its_log(h: Harness) -> None:
    await h.runner.trigger(h.request("b-fail", FAIL))
    status = await h.settle("b-fail")
    assert status.state is BuildState.FAILED
    if h.kind != "fake":
        assert "boom" in await h.runner.log("b-fail")
    assert h.queue_refs() == []


async def test_cancel_stops_a_running_build(h: Harness) -> None:
    await h.runner.trigger(h.request("b-hang", HANG))
    await h.running("b-hang")
    assert (await h.runner.cancel("b-hang")).state is BuildState.CANCELLED
    assert (await h.runner.status("b-hang")).state is BuildState.CANCELLED
    if h.ci is not None:
        [run] = h.ci_runs("b-hang")
        assert run.state.value == "canceled"
    assert h.queue_refs() == []


async def test_cancelling_a_finished_build_leaves_it_as_it_is(h: Harness) -> None:
    await h.runner.trigger(h.request("b-done"))
    await h.settle("b-done")
    assert (await h.runner.cancel("b-done")).state is BuildState.PASSED


async def test_a_cancel_on_the_ci_side_is_a_cancellation_not_a_failure(h: Harness) -> None:
    if h.kind == "command":
        pytest.skip("the command runner has no CI to cancel on")
    await h.runner.trigger(h.request("b-ci", HANG))
    await h.running("b-ci")
    await h.cancel_on_ci("b-ci")
    status = await h.settle("b-ci")
    assert status.state is BuildState.CANCELLED
    assert h.queue_refs() == []


async def test_an_unknown_build_is_unknown(h: Harness) -> None:
    with pytest.raises(UnknownBuildError):
        await h.runner.status("never-triggered")
    with pytest.raises(UnknownBuildError):
        await h.runner.cancel("never-triggered")
    assert await h.runner.log("never-triggered") == ""


async def test_a_build_past_its_timeout_fails_and_stops(h: Harness) -> None:
    if h.kind == "fake":
        pytest.skip("the fake runner has no clock")
    timeout_s = 0.3 if h.kind == "command" else 60.0  # the command runner's timer is real time
    await h.runner.trigger(h.request("b-slow", HANG, timeout_s=timeout_s))
    await h.running("b-slow")
    h.expire(61.0)
    status = await h.settle("b-slow")
    assert status.state is BuildState.FAILED
    assert "timed out" in status.reason
    if h.ci is not None:
        [run] = h.ci_runs("b-slow")
        assert run.state.value == "canceled"
    assert h.queue_refs() == []


async def test_triggering_the_same_build_again_starts_nothing_new(h: Harness) -> None:
    first = await h.runner.trigger(h.request("b-once"))
    again = await h.runner.trigger(h.request("b-once"))
    assert again.build_id == first.build_id
    await h.settle("b-once")
    again = await h.runner.trigger(h.request("b-once"))
    assert again.state is BuildState.PASSED
    assert h.starts_of("b-once", await h.runner.log("b-once")) == 1


async def test_the_tree_built_is_base_plus_the_layers_in_order(h: Harness) -> None:
    needs_a_tree(h)
    sandbox = h.sandbox
    base = sandbox.head()
    sandbox.checkout("first", base)
    a = sandbox.commit("add a", {"a.txt": "A\n"})
    sandbox.push("first")
    sandbox.checkout("second", base)
    b = sandbox.commit("add b", {"b.txt": "B\n"})
    sandbox.push("second")
    sandbox.checkout("expected", base)
    sandbox.commit("a and b", {"a.txt": "A\n", "b.txt": "B\n"})
    expected = sandbox.git("rev-parse", "HEAD^{tree}").strip()
    layers = (
        TreeLayer(name="first", commits=(a,)),
        TreeLayer(name="second", commits=(b,)),
    )
    await h.runner.trigger(h.request("b-tree", PASS, layers=layers))
    assert (await h.settle("b-tree")).state is BuildState.PASSED
    assert await h.tree_built("b-tree") == expected
    assert h.queue_refs() == []


async def test_layers_that_conflict_fail_without_a_ci_build(h: Harness) -> None:
    needs_a_tree(h)
    sandbox = h.sandbox
    base = sandbox.head()
    sandbox.checkout("one", base)
    one = sandbox.commit("readme one", {"README.md": "one\n"})
    sandbox.push("one")
    sandbox.checkout("two", base)
    two = sandbox.commit("readme two", {"README.md": "two\n"})
    sandbox.push("two")
    layers = (TreeLayer(name="one", commits=(one,)), TreeLayer(name="two", commits=(two,)))
    await h.runner.trigger(h.request("b-clash", PASS, layers=layers))
    status = await h.settle("b-clash")
    assert status.state is BuildState.FAILED and "conflicts" in status.reason
    if h.ci is not None:
        assert h.ci_runs("b-clash") == []
    assert h.queue_refs() == []
