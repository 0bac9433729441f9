"""Every BuildRunner behind one harness, so the contract suite drives them alike.

`fake`: the in-memory runner (held builds released by `settle`). `command`: the local runner.
`buildkite` / `github-actions`: the real runners against their local stand-ins, pushing to the
sandbox's bare origin. Outcomes are commands run in the built tree (the fake reads labels).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from sq.platform.build import BuildRequest, BuildRunner, BuildState, BuildStatus, TreeLayer
from sq.platform.build.buildkite import BuildkiteBackend
from sq.platform.build.command import CommandBuildRunner
from sq.platform.build.fake import FakeBuildRunner
from sq.platform.build.github_actions import GithubActionsBackend
from sq.platform.build.remote import CiBackend, RemoteBuildRunner
from sq.platform.clock import FakeClock
from sq.platform.git.sandbox import GitSandbox
from support.fake_actions import FakeActions
from support.fake_buildkite import FakeBuildkite
from support.fake_ci import FakeCi

KINDS = ("fake", "command", "buildkite", "github-actions")
REMOTE_KINDS = ("buildkite", "github-actions")
TOKEN = "s3cret-token"
PASS = "git rev-parse 'HEAD^{tree}' 2>/dev/null; ls; true"
FAIL = "echo boom; exit 3"
HANG = "sleep 600"
_SETTLE_POLLS = 3000
_QUEUE_REFS = ("refs/heads/sq/", "refs/sq/")


@dataclass
class Harness:
    kind: str
    runner: BuildRunner
    sandbox: GitSandbox
    clock: FakeClock
    ci: FakeCi | None = None
    fake: FakeBuildRunner | None = None

    def request(
        self,
        build_id: str,
        command: str = PASS,
        *,
        layers: tuple[TreeLayer, ...] = (),
        timeout_s: float = 600.0,
    ) -> BuildRequest:
        labels = {"queue": "q"}
        if command == FAIL:
            labels["sq-fake"] = "build-fail"
        return BuildRequest(
            build_id=build_id,
            repository=str(self.sandbox.origin),
            base="refs/heads/main",
            layers=layers,
            command=command,
            labels=labels,
            timeout_s=timeout_s,
        )

    async def settle(self, build_id: str) -> BuildStatus:
        """Wait (bounded) until the build has finished; the fake's held build is released."""
        if self.fake is not None:
            self.fake.release(lambda r: r.build_id == build_id)
        for _ in range(_SETTLE_POLLS):
            status = await self.runner.status(build_id)
            if status.state.finished:
                return status
            await asyncio.sleep(0.01)
        raise AssertionError(f"build {build_id} did not finish")

    async def running(self, build_id: str) -> None:
        """Wait (bounded) until the build's command runs."""
        for _ in range(_SETTLE_POLLS):
            if self.fake is not None or await self._command_runs(build_id):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"build {build_id} did not start")

    async def _command_runs(self, build_id: str) -> bool:
        if self.ci is not None:
            runs = self.ci_runs(build_id)
            return bool(runs) and runs[0].pid is not None
        return (await self.runner.status(build_id)).state is BuildState.RUNNING

    def ci_runs(self, build_id: str) -> list:  # type: ignore[type-arg]
        assert self.ci is not None
        return [r for r in self.ci.runs.values() if r.env.get("SQ_BUILD_ID") == build_id]

    async def cancel_on_ci(self, build_id: str) -> None:
        if self.fake is not None:
            self.fake.finish(build_id, BuildState.CANCELLED)
            return
        assert self.ci is not None
        [run] = self.ci_runs(build_id)
        assert await self.ci.cancel_on_ci(run.number)

    def expire(self, seconds: float) -> None:
        self.clock.advance(seconds)

    def starts_of(self, build_id: str, log: str) -> int:
        if self.fake is not None:
            return sum(1 for r in self.fake.triggered if r.build_id == build_id)
        if self.ci is not None:
            return len(self.ci_runs(build_id))
        return sum(1 for line in log.splitlines() if line.startswith("$ "))

    async def tree_built(self, build_id: str) -> str | None:
        if self.ci is not None:
            [run] = self.ci_runs(build_id)
            return str(run.tree)
        trees = re.findall(r"^[0-9a-f]{40}$", await self.runner.log(build_id), re.M)
        return trees[0] if trees else None

    def queue_refs(self) -> list[str]:
        out = self.sandbox.git("for-each-ref", "--format=%(refname)", cwd=self.sandbox.origin)
        return [r for r in out.splitlines() if r.startswith(_QUEUE_REFS)]


def remote_runner(
    kind: str, ci: FakeCi, sandbox: GitSandbox, clock: FakeClock, workspace: Path
) -> RemoteBuildRunner:
    backend: CiBackend
    if kind == "buildkite":
        backend = BuildkiteBackend.connect(
            token=TOKEN, organization="acme", pipeline="ci", api_url=ci.url, clock=clock
        )
    else:
        backend = GithubActionsBackend.connect(
            token=TOKEN, owner="acme", repo="web", workflow="ci.yml", api_url=ci.url, clock=clock
        )
    return RemoteBuildRunner(
        backend, workspace_dir=workspace, push_url=str(sandbox.origin), clock=clock
    )


def stand_in(kind: str, origin: Path, *, default_command: str = "./ci.sh") -> FakeCi:
    if kind == "buildkite":
        return FakeBuildkite(origin, token=TOKEN, default_command=default_command)
    return FakeActions(origin, token=TOKEN, default_command=default_command, hidden_lists=1)


@asynccontextmanager
async def harness(kind: str, root: Path) -> AsyncIterator[Harness]:
    sandbox = GitSandbox(root / "sandbox")
    sandbox.seed({"README.md": "hello\n"})
    clock = FakeClock()
    if kind == "fake":
        fake = FakeBuildRunner(held=True)
        yield Harness(kind, fake, sandbox, clock, fake=fake)
        return
    if kind == "command":
        command = CommandBuildRunner(workspace_dir=root / "ws", log_dir=root / "logs")
        try:
            yield Harness(kind, command, sandbox, clock)
        finally:
            await command.close()
        return
    ci = stand_in(kind, sandbox.origin)
    await ci.start()
    runner = remote_runner(kind, ci, sandbox, clock, root / "ws")
    try:
        yield Harness(kind, runner, sandbox, clock, ci=ci)
    finally:
        await runner.close()
        await ci.stop()
