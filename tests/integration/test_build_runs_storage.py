"""The command runner reports each build's end as it happens, and the build runs' migration
builds exactly the tables the orchestrator declares."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from sq.platform.build import BuildRequest, BuildState, BuildStatus
from sq.platform.build.command import CommandBuildRunner
from sq.platform.git.sandbox import GitSandbox
from sq.submitqueue.orchestrator.storage import schema
from support.databases import schema_drift
from support.mq import SAFETY_SECONDS

pytestmark = pytest.mark.anyio


def test_the_orchestrator_migrations_match_its_tables(tmp_path: Path) -> None:
    assert schema_drift(f"sqlite:///{tmp_path / 'orchestrator.db'}", schema()) == []


async def test_the_command_runner_reports_a_build_the_moment_it_ends(tmp_path: Path) -> None:
    sandbox = GitSandbox(tmp_path / "sandbox")
    sandbox.seed({"README.md": "hello\n"})
    ended: asyncio.Queue[BuildStatus] = asyncio.Queue()

    async def on_finish(request: BuildRequest, status: BuildStatus) -> None:
        await ended.put(status)

    runner = CommandBuildRunner(
        workspace_dir=tmp_path / "ws", log_dir=tmp_path / "logs", on_finish=on_finish
    )
    base = BuildRequest(build_id="", repository=str(sandbox.origin), base="refs/heads/main")
    await runner.trigger(_with(base, "fails", "exit 3"))
    await runner.trigger(_with(base, "held", "sleep 30"))
    failed = await asyncio.wait_for(ended.get(), SAFETY_SECONDS)
    assert (failed.build_id, failed.state, failed.exit_code) == ("fails", BuildState.FAILED, 3)
    await runner.cancel("held")
    cancelled = await asyncio.wait_for(ended.get(), SAFETY_SECONDS)
    assert (cancelled.build_id, cancelled.state) == ("held", BuildState.CANCELLED)
    await runner.close()


def _with(request: BuildRequest, build_id: str, command: str) -> BuildRequest:
    return dataclasses.replace(request, build_id=build_id, command=command)
