"""An orchestrator that stops cancels the builds it runs and records them as stopped with their
runner, so that another instance builds them again at once instead of waiting out the lease, and
none of them counts as a build CI cancelled."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sq.platform.build import STOPPED_WITH_RUNNER, BuildRequest, BuildState
from sq.platform.build.command import CommandBuildRunner
from sq.platform.git.sandbox import GitSandbox
from sq.service.orchestrator import build_orchestrator
from sq.service.runtime import Runtime
from sq.service.settings import Settings
from sq.submitqueue.entity.build import lost_with_runner
from sq.submitqueue.orchestrator.buildruns import BuildRuns
from sq.submitqueue.orchestrator.storage import OrchestratorStorage

pytestmark = pytest.mark.anyio


async def test_stopping_cancels_and_records_the_builds_it_runs(tmp_path: Path) -> None:
    sandbox = GitSandbox(tmp_path / "sandbox")
    sandbox.seed({"README.md": "hello\n"})
    queue = {
        "name": "main",
        "provider": "git",
        "repository": str(sandbox.origin),
        "build": {"runner": "command", "command": "sleep 60"},
    }
    settings = Settings.model_validate(
        {"data_dir": tmp_path / "data", "submitqueue": {"queues": [queue]}}
    )
    runtime = Runtime(settings)
    parts = build_orchestrator(runtime)
    [runs] = [c for c in parts.components if isinstance(c, BuildRuns)]
    [closer] = [c for c in parts.components if hasattr(c, "_runners")]
    [runner] = closer._runners.values()  # type: ignore[attr-defined]
    assert isinstance(runner, CommandBuildRunner)
    storage: OrchestratorStorage = runs.storage
    request = BuildRequest(
        build_id="b1",
        repository=str(sandbox.origin),
        base="refs/heads/main",
        command="sleep 60",
        labels={"queue": "main"},
    )
    try:
        storage.record_run(runs.started("main", await runner.trigger(request)))
        for _ in range(40_000):  # the build starts once its tree is ready (bounded as support.mq's)
            if (await runner.status("b1")).state is BuildState.RUNNING:
                break
            await asyncio.sleep(0.0005)
        await closer.stop()
        run = storage.get_run("main", "b1")
        assert run is not None and run.state is BuildState.CANCELLED
        assert run.reason == STOPPED_WITH_RUNNER
        assert lost_with_runner(run.state, run.reason)
    finally:
        await runner.close()
        await runtime.queue.close()
        runtime.dispose()
