"""`sq demo`: land a set of changes into a fresh git sandbox through the whole SubmitQueue stack.

It starts gateway, orchestrator and runway in this process on SQLite (or talks to a running gateway
with `--addr`), creates the sandbox, pushes each change branch and lands it at once over the
gateway's HTTP API, then follows the requests until all settle.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.console import Console

from sq.service.cli.api_call import TOKEN_ENV
from sq.service.demo.builds import BuildCounts, read_build_counts
from sq.service.demo.sandbox import (
    BUILD_COMMAND,
    DemoChange,
    DemoRepository,
    fake_uri,
    plan_changes,
    requests_of,
)
from sq.service.settings import QueueSettings, Settings
from sq.service.settings_auth import AuthSettings
from sq.service.settings_submitqueue import BuildConfig, QueueConfig, SubmitQueueSettings
from sq.service.stack import LocalStack
from sq.submitqueue.client.http import GatewayClient
from sq.submitqueue.client.live import follow
from sq.submitqueue.client.watch import Watch
from sq.submitqueue.core.messages import LandStrategy

QUEUE = "sandbox"
Provider = Literal["fake", "git"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoOptions:
    provider: Provider = "git"
    count: int = 12
    folders: int = 3
    files: int = 2
    fail: int = 2
    stacked: bool = False
    build_command: str = BUILD_COMMAND
    strategy: LandStrategy = LandStrategy.SQUASH_REBASE
    sandbox: Path | None = None
    addr: str | None = None
    queue: str = QUEUE
    live: bool = False
    interval: float = 0.5


@dataclass(slots=True)
class DemoOutcome:
    """Per request: the changes it holds, whether one of them was made to fail, its final status."""

    sandbox: Path | None
    expected_to_fail: dict[str, bool] = field(default_factory=dict)
    status: dict[str, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)
    linear: bool = True
    builds: BuildCounts | None = None
    """What the queue built (a demo that started its own stack)."""

    @property
    def ok(self) -> bool:
        """Every request not made to fail landed, and none made to fail did."""
        return self.linear and all(
            (self.status.get(r) == "landed") != failing
            for r, failing in self.expected_to_fail.items()
        )


class DemoError(Exception):
    """Bad demo input or an unusable sandbox location (exit 2)."""


def prepare_sandbox(options: DemoOptions, data_dir: Path) -> Path:
    """Where the sandbox goes: `--sandbox` (must be absent or empty) or a fresh one under the
    data directory (the previous demo's is removed)."""
    if options.sandbox is not None:
        target = options.sandbox.resolve()
        if target.exists() and any(target.iterdir()):
            raise DemoError(f"--sandbox {options.sandbox} is not empty; give a new directory")
        return target
    root = (data_dir / "demo").resolve()
    shutil.rmtree(root, ignore_errors=True)
    return root / "sandbox"


def demo_settings(base: Settings, options: DemoOptions, origin: Path, state: Path) -> Settings:
    """One queue over the sandbox, on a message queue of its own. The git queue lands exactly
    (every landed tree was built), so it orders every change (`all`); the fake one lands
    nothing, so its folders are independent lanes (`pathoverlap`)."""
    if options.provider == "git":
        queue = QueueConfig(
            name=options.queue,
            provider="git",
            repository=str(origin),
            strategy=options.strategy,
            build=BuildConfig(runner="command", command=options.build_command, timeout=120),
            conflict_analyzer="all",
        )
    else:
        queue = QueueConfig(name=options.queue, conflict_analyzer="pathoverlap")
    return one_queue(base, queue, state)


def one_queue(base: Settings, queue: QueueConfig, state: Path) -> Settings:
    """`base` with `queue` as its only queue, and the message queue, databases and nothing else
    of its own under `state`, served on a free port without tokens: a stack for one run."""
    return base.model_copy(
        update={
            "data_dir": state,
            "mq": QueueSettings(),
            "port": 0,
            "auth": AuthSettings(tokens=[]),
            "submitqueue": SubmitQueueSettings(queues=[queue]),
        }
    )


async def run_demo(
    base: Settings, options: DemoOptions, console: Console, say: Callable[[str], None]
) -> DemoOutcome:
    sandbox = prepare_sandbox(options, base.data_dir)
    if options.addr:
        return await _against(options.addr, options, sandbox, console, say)
    repo = (
        DemoRepository.create(sandbox, folders=options.folders)
        if options.provider == "git"
        else None
    )
    origin = repo.origin if repo else sandbox
    settings = demo_settings(base, options, origin, sandbox.parent / "state")
    stack = LocalStack(settings, ["gateway", "orchestrator", "runway"], "127.0.0.1", 0)
    await stack.group.start()
    try:
        say(f"SubmitQueue is up at {stack.address} (data: {settings.data_dir})")
        outcome = await _land_and_watch(stack.address, repo, options, console, say)
        outcome.builds = await read_build_counts(stack.address, options.queue)
        return outcome
    finally:
        await stack.group.stop()
        await stack.close()


async def _against(
    addr: str, options: DemoOptions, sandbox: Path, console: Console, say: Callable[[str], None]
) -> DemoOutcome:
    """A running gateway: its queue's repository must be a git repository we may push to."""
    base = addr if "://" in addr else f"http://{addr}"
    async with GatewayClient(base, token=_token()) as client:
        queue = (await client.queue(options.queue))["settings"]
    repository = str(queue.get("repository") or "")
    if options.provider == "fake":
        return await _land_and_watch(base, None, options, console, say)
    if queue.get("provider") != "git" or not repository:
        raise DemoError(f"queue {options.queue} at {addr} is not a git queue; use --provider fake")
    target = str(queue.get("target") or "refs/heads/main")
    repo = DemoRepository.attach(
        sandbox,
        Path(repository),
        branch=target.removeprefix("refs/heads/"),
        folders=options.folders,
    )
    return await _land_and_watch(base, repo, options, console, say)


async def _land_and_watch(
    base: str,
    repo: DemoRepository | None,
    options: DemoOptions,
    console: Console,
    say: Callable[[str], None],
) -> DemoOutcome:
    changes = plan_changes(
        options.count, options.folders, options.files, options.fail, options.stacked
    )
    outcome = DemoOutcome(sandbox=repo.origin if repo else None)
    if repo:
        say(f"Sandbox repository: {repo.origin}")
    async with GatewayClient(base, token=_token()) as client:
        for stack in requests_of(changes):
            uris = [_uri(repo, change) for change in stack]
            body = await client.land(options.queue, uris, options.strategy.value)
            outcome.expected_to_fail[body["id"]] = any(c.fails for c in stack)
            say(f"pushed {_describe(stack)} → {body['id']}")
        watch = Watch(client, list(outcome.expected_to_fail))
        outcome.status = await follow(watch, console, live=options.live, interval=options.interval)
    if repo:
        outcome.log = repo.target_log()
        outcome.linear = repo.is_linear()
    return outcome


def _token() -> str | None:
    return os.environ.get(TOKEN_ENV, "").strip() or None


def _uri(repo: DemoRepository | None, change: DemoChange) -> str:
    if repo is None:
        return fake_uri(change)
    return repo.git_uri(change, repo.push(change))


def _describe(stack: list[DemoChange]) -> str:
    names = " + ".join(c.branch for c in stack)
    folder = stack[0].folder
    fails = " (made to fail)" if any(c.fails for c in stack) else ""
    return f"{names} in {folder}{fails}"
