"""The hermetic git scenarios (submitqueue-spec §9.2) through the whole stack in one process:
gateway HTTP API → orchestrator → runway's git merger → a bare repository, on SQLite."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
import pytest

from sq.platform.consumer.gate import GateState
from sq.runway.pipeline import GROUP_MERGE
from sq.submitqueue.client.http import ClientError
from support.databases import fresh_postgres_database
from support.git_queue import GitQueue, git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
async def queue(tmp_path: Path) -> AsyncIterator[GitQueue]:
    async with git_queue(tmp_path) as q:
        yield q


async def test_on_postgresql_a_stack_and_a_conflict(tmp_path: Path) -> None:
    with (
        fresh_postgres_database() as mq,
        fresh_postgres_database() as gateway,
        fresh_postgres_database() as orchestrator,
    ):
        urls = {"mq": mq, "gateway": gateway, "orchestrator": orchestrator}
        async with git_queue(tmp_path, urls) as queue:
            assert queue.stack.runtime.queue_engine.dialect.name == "postgresql"
            first = queue.branch("p1", {"p1.txt": "1\n"})
            second = queue.branch("p2", {"p2.txt": "2\n"}, start="p1")
            loser = queue.branch("loser", {"shared.txt": "loser\n"})
            winner = queue.branch("winner", {"shared.txt": "winner\n"})
            updates = queue.box.reflog_length("refs/heads/main")
            stack_id = await queue.land(first, second)
            win_id = await queue.land(winner)
            lose_id = await queue.land(loser)
            assert (await queue.settled(stack_id))["status"] == "landed"
            assert (await queue.settled(win_id))["status"] == "landed"
            assert (await queue.settled(lose_id))["status"] == "error"
            assert queue.box.reflog_length("refs/heads/main") == updates + 2
            assert queue.box.origin_file("refs/heads/main", "shared.txt") == "winner\n"


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


async def test_a_failed_build_shows_its_log_in_the_history_and_the_api(queue: GitQueue) -> None:
    uri = queue.branch("broken", {"broken.txt": "BROKEN\n"})
    request = await queue.land(uri)
    assert (await queue.settled(request))["status"] == "error"
    events = (await queue.client.history(request))["events"]
    failed = [e for e in events if e.get("event") == "build-failed"]
    assert len(failed) == 1
    tail = failed[0]["metadata"]["log_tail"]
    assert "./broken.txt" in tail
    assert "found BROKEN" in tail
    build_id = failed[0]["metadata"]["build_id"]
    whole = await queue.client.build_log(build_id)
    assert whole["status"] == "failed"
    assert whole["log"].startswith("$ ")
    assert tail in whole["log"]
    with pytest.raises(ClientError) as missing:
        await queue.client.build_log("main/batch/404/x/1")
    assert (missing.value.code, missing.value.exit_code) == ("not_found", 1)


async def test_a_cancel_while_landing_ends_in_a_state_the_target_agrees_with(
    queue: GitQueue,
) -> None:
    gate = queue.stack.runtime.gate
    gate.close(GateState(consumer_group=GROUP_MERGE, partition_key=""))
    uri = queue.branch("late", {"late.txt": "late\n"})
    request = await queue.land(uri)
    deadline = time.monotonic() + 60
    while not gate.list_parked(GROUP_MERGE):
        assert time.monotonic() < deadline, "the landing never reached runway"
        await anyio.sleep(0.1)
    await queue.client.cancel(request, "too late")
    gate.open(GROUP_MERGE)
    summary = await queue.settled(request)
    landed = queue.box.origin_file("refs/heads/main", "late.txt") == "late\n"
    # Runway already had the landing: it may land (the cancel came too late) but then the
    # request must say landed, and otherwise nothing of it may be on main.
    assert summary["status"] == ("landed" if landed else "cancelled")
