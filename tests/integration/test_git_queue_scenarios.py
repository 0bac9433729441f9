"""The hermetic git scenarios (submitqueue-spec §9.2) through the whole stack in one process:
gateway HTTP API → orchestrator → runway's git merger → a bare repository, on SQLite."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from sq.platform.changeuri import branch_head_uri
from sq.platform.consumer.gate import GateState
from sq.platform.git.sandbox import GitSandbox
from sq.runway.pipeline import GROUP_MERGE
from sq.service.settings import Settings
from sq.service.settings_submitqueue import BuildConfig, QueueConfig, SubmitQueueSettings
from sq.service.stack import LocalStack
from sq.submitqueue.client.http import GatewayClient
from sq.submitqueue.core.messages import LandStrategy

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

TERMINAL = {"landed", "error", "cancelled"}


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

    async def land(self, *uris: str) -> str:
        return str((await self.client.land("main", list(uris), None))["id"])

    async def settled(self, request_id: str) -> dict[str, object]:
        deadline = time.monotonic() + 60
        while True:
            summary = await self.client.status(request_id)
            if summary["status"] in TERMINAL:
                return summary
            assert time.monotonic() < deadline, f"{request_id} never settled: {summary}"
            await anyio.sleep(0.1)


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[GitQueue]:
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n", "shared.txt": "base\n"})
    config = QueueConfig(
        name="main",
        provider="git",
        repository=str(box.origin),
        strategy=LandStrategy.REBASE,
        build=BuildConfig(runner="command", command="true", timeout=60),
        conflict_analyzer="all",
    )
    settings = Settings(
        data_dir=tmp_path / "data", port=0, submitqueue=SubmitQueueSettings(queues=[config])
    )
    stack = LocalStack(settings, ["gateway", "orchestrator", "runway"], "127.0.0.1", 0)
    await stack.group.start()
    try:
        async with GatewayClient(stack.address) as client:
            yield GitQueue(box, client, stack)
    finally:
        await stack.group.stop()
        await stack.close()


async def test_a_single_change_reaches_the_target(queue: GitQueue) -> None:
    before = queue.box.origin_ref("refs/heads/main")
    uri = queue.branch("one", {"one.txt": "one\n"})
    summary = await queue.settled(await queue.land(uri))
    assert summary["status"] == "landed"
    main = queue.box.origin_ref("refs/heads/main")
    assert main not in (before, uri.rsplit("/", 1)[1])  # rebased: a new commit
    assert queue.box.origin_subjects("refs/heads/main")[0] == "one: edit one.txt"
    assert queue.box.origin_file("refs/heads/main", "one.txt") == "one\n"


async def test_a_stack_lands_in_order_in_one_ref_update(queue: GitQueue) -> None:
    first = queue.branch("s1", {"s1.txt": "1\n"})
    second = queue.branch("s2", {"s2.txt": "2\n"}, start="s1")
    third = queue.branch("s3", {"s3.txt": "3\n"}, start="s2")
    updates = queue.box.reflog_length("refs/heads/main")
    summary = await queue.settled(await queue.land(first, second, third))
    assert summary["status"] == "landed"
    assert queue.box.origin_subjects("refs/heads/main")[:3] == [
        "s3: edit s3.txt",
        "s2: edit s2.txt",
        "s1: edit s1.txt",
    ]
    assert queue.box.reflog_length("refs/heads/main") == updates + 1


async def test_head_branches_move_to_their_landed_commits(queue: GitQueue) -> None:
    left = queue.branch("left", {"left.txt": "l\n"})
    right = queue.branch("right", {"right.txt": "r\n"})
    assert (await queue.settled(await queue.land(left, right)))["status"] == "landed"
    main = queue.box.origin_ref("refs/heads/main")
    assert main is not None
    for name in ("left", "right"):
        moved = queue.box.origin_ref(f"refs/heads/{name}")
        assert moved is not None
        assert moved != left.rsplit("/", 1)[1]
        queue.box.git("merge-base", "--is-ancestor", moved, main, cwd=queue.box.origin)
    assert queue.box.origin_ref("refs/heads/right") == main


async def test_a_conflict_fails_and_leaves_the_target_untouched(queue: GitQueue) -> None:
    winner = queue.branch("winner", {"shared.txt": "winner\n"})
    loser = queue.branch("loser", {"shared.txt": "loser\n"})
    loser_sha = loser.rsplit("/", 1)[1]
    assert (await queue.settled(await queue.land(winner)))["status"] == "landed"
    main = queue.box.origin_ref("refs/heads/main")
    summary = await queue.settled(await queue.land(loser))
    assert summary["status"] == "error"
    assert "conflict" in str(summary["last_error"])
    assert queue.box.origin_ref("refs/heads/main") == main
    assert queue.box.origin_file("refs/heads/main", "shared.txt") == "winner\n"
    assert queue.box.origin_ref("refs/heads/loser") == loser_sha


async def test_a_change_resubmitted_after_landing_changes_nothing(queue: GitQueue) -> None:
    # The reference answers this with a stale error (the branch moved to its landed commit). We
    # check "already present" first, so the request reports landed — truthfully — and pushes
    # nothing: landing is idempotent.
    uri = queue.branch("again", {"again.txt": "a\n"})
    assert (await queue.settled(await queue.land(uri)))["status"] == "landed"
    main = queue.box.origin_ref("refs/heads/main")
    updates = queue.box.reflog_length("refs/heads/main")
    landed_branch = queue.box.origin_ref("refs/heads/again")
    summary = await queue.settled(await queue.land(uri))
    assert summary["status"] == "landed"
    assert queue.box.origin_ref("refs/heads/main") == main
    assert queue.box.reflog_length("refs/heads/main") == updates
    assert queue.box.origin_ref("refs/heads/again") == landed_branch


async def test_a_duplicate_of_an_in_flight_change_is_refused(queue: GitQueue) -> None:
    uri = queue.branch("dup", {"dup.txt": "d\n"})
    first = await queue.land(uri)
    second = await queue.land(uri)
    results = {first: await queue.settled(first), second: await queue.settled(second)}
    assert results[first]["status"] == "landed"
    assert results[second]["status"] == "error"
    assert first in str(results[second]["last_error"])


async def test_a_branch_that_moves_before_landing_is_stale(queue: GitQueue) -> None:
    gate = queue.stack.runtime.gate
    gate.close(GateState(consumer_group=GROUP_MERGE, partition_key=""))
    uri = queue.branch("moving", {"moving.txt": "validated\n"})
    request = await queue.land(uri)
    deadline = time.monotonic() + 60
    while not gate.list_parked(GROUP_MERGE):
        assert time.monotonic() < deadline, "the landing never reached runway"
        await anyio.sleep(0.1)
    main = queue.box.origin_ref("refs/heads/main")
    queue.box.commit("moving: an unvalidated edit", {"moving.txt": "not validated\n"})
    queue.box.push("moving")
    gate.open(GROUP_MERGE)
    summary = await queue.settled(request)
    assert summary["status"] == "error"
    assert "stale" in str(summary["last_error"])
    assert queue.box.origin_ref("refs/heads/main") == main
