"""What only the remote runners have: rate limits and outages of the CI's API, refusals that
cannot pass, secrecy of the token, and builds seen from another instance."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.platform.build.api_client import BuildRunnerBusyError, BuildRunnerRejectedError
from sq.platform.build.remote import RemoteBuildRunner
from sq.platform.errs import Verdict, verdict_of
from support.build_runners import FAIL, PASS, REMOTE_KINDS, TOKEN, Harness, harness, remote_runner

pytestmark = pytest.mark.anyio


@pytest.fixture(params=REMOTE_KINDS)
async def h(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Harness]:
    async with harness(request.param, tmp_path) as built:
        yield built


async def test_a_429_is_transient_with_the_servers_delay_and_the_retry_starts_one_build(
    h: Harness,
) -> None:
    assert h.ci is not None
    h.ci.inject(429, headers={"Retry-After": "7"})
    with pytest.raises(BuildRunnerBusyError) as raised:
        await h.runner.trigger(h.request("b-429"))
    assert raised.value.retry_after_s == 7.0
    assert verdict_of(raised.value) is Verdict.INFRA_DEPENDENCY_RETRYABLE
    await h.runner.trigger(h.request("b-429"))
    assert (await h.settle("b-429")).state is BuildState.PASSED
    assert len(h.ci_runs("b-429")) == 1
    assert h.queue_refs() == []


async def test_an_exhausted_rate_limit_waits_until_its_reset(h: Harness) -> None:
    assert h.ci is not None
    reset = h.clock.now_ms() // 1000 + 42
    h.ci.inject(403, headers={"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)})
    with pytest.raises(BuildRunnerBusyError) as raised:
        await h.runner.trigger(h.request("b-403"))
    assert raised.value.retry_after_s is not None and 41 <= raised.value.retry_after_s <= 42


async def test_a_5xx_while_polling_is_transient_and_the_next_poll_answers(h: Harness) -> None:
    assert h.ci is not None
    await h.runner.trigger(h.request("b-5xx", FAIL))
    h.ci.inject(502)
    with pytest.raises(BuildRunnerBusyError):
        await h.runner.status("b-5xx")
    assert (await h.settle("b-5xx")).state is BuildState.FAILED


@pytest.mark.parametrize("after", [False, True], ids=["not-created", "created-response-lost"])
async def test_a_5xx_on_create_is_retried_into_exactly_one_build(h: Harness, after: bool) -> None:
    assert h.ci is not None
    h.ci.inject(502, method="POST", after=after)
    with pytest.raises(BuildRunnerBusyError):
        await h.runner.trigger(h.request("b-create"))
    await h.runner.trigger(h.request("b-create"))
    await h.runner.status("b-create")
    h.expire(61.0)  # Actions: a dispatch whose run never shows is made again after a grace
    assert (await h.settle("b-create")).state is BuildState.PASSED
    assert len(h.ci_runs("b-create")) == 1
    assert h.queue_refs() == []


async def test_a_bad_token_is_a_permanent_refusal_with_the_apis_message_and_no_token(
    h: Harness, tmp_path: Path
) -> None:
    assert h.ci is not None
    h.ci.token = "another-token"
    with pytest.raises(BuildRunnerRejectedError) as raised:
        await h.runner.trigger(h.request("b-401"))
    assert raised.value.status_code == 401
    assert "Bad credentials" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert verdict_of(raised.value) is Verdict.INFRA_DEPENDENCY
    assert h.queue_refs() == []


async def test_another_instance_polls_cancels_and_reads_a_build_it_did_not_start(
    h: Harness, tmp_path: Path
) -> None:
    assert h.ci is not None
    await h.runner.trigger(h.request("b-shared", "echo shared-output; sleep 600"))
    await h.running("b-shared")
    other = remote_runner(h.kind, h.ci, h.sandbox, h.clock, tmp_path / "other")
    try:
        assert (await other.trigger(h.request("b-shared"))).state is BuildState.RUNNING
        assert (await other.cancel("b-shared")).state is BuildState.CANCELLED
        assert (await h.settle("b-shared")).state is BuildState.CANCELLED
        assert "shared-output" in await other.log("b-shared")
    finally:
        await other.close()
    assert len(h.ci_runs("b-shared")) == 1
    assert h.queue_refs() == []


async def test_the_build_gets_its_id_and_command_and_builds_the_pushed_commit(h: Harness) -> None:
    assert h.ci is not None
    await h.runner.trigger(h.request("b-env", PASS))
    await h.settle("b-env")
    [run] = h.ci_runs("b-env")
    assert run.env["SQ_BUILD_COMMAND"] == PASS
    assert run.branch.startswith("sq/builds/b-env-")
    assert run.sha == h.sandbox.origin_ref("refs/heads/main")


async def test_the_git_environment_reaches_every_fetch_and_push(h: Harness, tmp_path: Path) -> None:
    """The channel credentials travel by: here a URL rewrite that only it knows about."""
    assert h.ci is not None
    alias = "sq-test-alias://origin"
    git_env = {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"url.{h.sandbox.origin}.insteadOf",
        "GIT_CONFIG_VALUE_0": alias,
    }
    runner = remote_runner(h.kind, h.ci, h.sandbox, h.clock, tmp_path / "aliased")
    runner = RemoteBuildRunner(
        runner.backend,
        workspace_dir=tmp_path / "aliased",
        push_url=alias,
        clock=h.clock,
        git_env=git_env,
    )
    request = dataclasses.replace(h.request("b-alias"), repository=alias)
    try:
        assert not (await runner.trigger(request)).state.finished
        for _ in range(3000):
            if (await runner.status("b-alias")).state.finished:
                break
            await asyncio.sleep(0.01)
        assert (await runner.status("b-alias")).state is BuildState.PASSED
    finally:
        await runner.close()
    assert h.queue_refs() == []
