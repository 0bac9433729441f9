"""One SubmitQueue `main` queue on a fresh bare repository, served by the whole stack in one
process (gateway HTTP API → orchestrator → runway's git merger), with the command build runner."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import anyio

from sq.api.runway import LandingCheck
from sq.platform.changeuri import branch_head_uri
from sq.platform.git.sandbox import GitSandbox
from sq.service.settings import QueueSettings, Settings
from sq.service.settings_submitqueue import (
    BatchingConfig,
    BuildConfig,
    QueueConfig,
    SubmitQueueSettings,
)
from sq.service.stack import LocalStack
from sq.submitqueue.client.http import GatewayClient
from sq.submitqueue.core.messages import LandStrategy

TERMINAL = {"landed", "error", "cancelled"}
CHECK = 'if grep -rl --exclude-dir=.git BROKEN .; then echo "found BROKEN"; exit 1; fi'


@dataclass
class GitQueue:
    box: GitSandbox
    client: GatewayClient
    stack: LocalStack

    def branch(self, name: str, files: dict[str, str], *, start: str = "main") -> str:
        """Push `name` with one commit of `files` on `start`; its canonical change URI."""
        self.box.checkout(name, start)
        sha = self.box.commit(f"{name}: edit {', '.join(files)}", dict(files))
        self.box.push(name)
        return str(branch_head_uri(str(self.box.origin), f"refs/heads/{name}", sha))

    async def land(self, *uris: str, priority: str | None = None) -> str:
        return str((await self.client.land("main", list(uris), None, priority))["id"])

    async def settled(self, request_id: str) -> dict[str, object]:
        deadline = time.monotonic() + 60
        while True:
            summary = await self.client.status(request_id)
            if summary["status"] in TERMINAL:
                return summary
            assert time.monotonic() < deadline, f"{request_id} never settled: {summary}"
            await anyio.sleep(0.1)

    def target_values(self) -> list[str]:
        """Every commit the target has named, oldest first (from origin's reflog)."""
        out = self.box.git("reflog", "show", "--format=%H", "refs/heads/main", cwd=self.box.origin)
        return list(reversed(out.split()))

    def tree(self, rev: str) -> str:
        return self.box.git("rev-parse", f"{rev}^{{tree}}", cwd=self.box.origin).strip()


@asynccontextmanager
async def git_queue(
    tmp_path: Path,
    urls: dict[str, str] | None = None,
    *,
    command: str = CHECK,
    strategy: LandStrategy = LandStrategy.REBASE,
    build: BuildConfig | None = None,
    speculator: str = "value",
    early_landing: bool = False,
    pending_failure_depth: int = 0,
    batching: BatchingConfig | None = None,
    conflict_analyzer: str = "all",
    landing: LandingCheck = LandingCheck.EXACT,
) -> AsyncIterator[GitQueue]:
    """One `main` queue on a fresh bare repository, with the strict `all` analyzer unless told;
    SQLite files unless `urls` names databases for the queue (`mq`), the gateway and the
    orchestrator. `build` replaces the command runner (a remote runner, say)."""
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n", "shared.txt": "base\n"})
    config = QueueConfig(
        name="main",
        provider="git",
        repository=str(box.origin),
        strategy=strategy,
        build=build or BuildConfig(runner="command", command=command, timeout=60),
        conflict_analyzer=conflict_analyzer,  # type: ignore[arg-type]
        landing=landing,
        speculator=speculator,  # type: ignore[arg-type]
        early_landing=early_landing,
        pending_failure_depth=pending_failure_depth,
        batching=batching or BatchingConfig(),
    )
    urls = urls or {}
    settings = Settings(
        data_dir=tmp_path / "data",
        port=0,
        mq=QueueSettings(url=urls.get("mq")),
        submitqueue=SubmitQueueSettings(
            queues=[config],
            gateway_database_url=urls.get("gateway"),
            orchestrator_database_url=urls.get("orchestrator"),
        ),
    )
    stack = LocalStack(settings, ["gateway", "orchestrator", "runway"], "127.0.0.1", 0)
    await stack.group.start()
    try:
        async with GatewayClient(stack.address) as client:
            yield GitQueue(box, client, stack)
    finally:
        await stack.group.stop()
        await stack.close()
