"""Batching on real git (issue #20): a batch of four with one bad change lands the three good
ones, each `landed` with its own commit, in as few builds as derived below; the bad one fails
with the log of its own build; every tree the target took is one a passing build ran on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sq.service.settings_submitqueue import BatchingConfig
from support.databases import fresh_postgres_database
from support.git_queue import CHECK, git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def command(root: Path) -> str:
    """Every build notes its tree in `built`; one without BROKEN also in `passed`. A build of d
    without a (the second half, or d, built without the first half) first waits for a to be on
    the target: so the second half fails only once the first has landed, and its parts are
    analysed with nothing in flight ahead of them. Otherwise they could go behind the first half
    while it is still landing, and be built on both of its outcomes: a count that would depend
    on timing."""
    built, passed, origin = root / "built", root / "passed", root / "box" / "origin.git"
    landed_a = f"git --git-dir {origin} cat-file -e refs/heads/main:a.txt 2>/dev/null"
    return (
        f"git rev-parse HEAD^{{tree}} >> {built}; "
        "if [ -e d.txt ] && [ ! -e a.txt ]; then "
        f"for i in $(seq 300); do {landed_a} && break; sleep 0.1; done; sleep 1; fi; "
        f"{CHECK}; git rev-parse HEAD^{{tree}} >> {passed}"
    )


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


@pytest.fixture(params=["sqlite", "postgresql"])
def urls(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """SQLite files, or a fresh PostgreSQL database for each of the queue, the gateway and the
    orchestrator (skipped, with the reason, when SQ_TEST_POSTGRES_URL is unset)."""
    if request.param == "sqlite":
        yield {}
        return
    with (
        fresh_postgres_database() as mq,
        fresh_postgres_database() as gateway,
        fresh_postgres_database() as orchestrator,
    ):
        yield {"mq": mq, "gateway": gateway, "orchestrator": orchestrator}


async def test_a_batch_of_four_with_one_bad_change_lands_the_other_three(
    tmp_path: Path, urls: dict[str, str]
) -> None:
    # Each change scores 0.95 (the history scorer before any outcome): four make 0.81, above the 0.7
    # floor, so the fourth arrival fills the batch. Equal probabilities: likeliest = halves.
    #
    # Builds, with the standard speculator (budget 4) and the `all` analyzer:
    #   1  (a b c d)                         fails (d is bad)
    #   3  (a b) alone; (c d) on (a b); (c d) without (a b)   — every path of the two halves
    #      (a b) passes and lands; both builds of (c d) fail: it failed on its own, and splits
    #      (its build without (a b) waits for (a b) to land: see `command`)
    #   3  (c) alone; (d) on (c); (d) without (c)
    #      (c) passes and lands; (d) on (c) failed: d is the proven culprit
    # = 7 builds for 4 changes (4 without batching; batching pays off when nothing fails).
    policy = BatchingConfig(max_size=4, max_wait=30.0, split="halves")
    async with git_queue(
        tmp_path, urls, command=command(tmp_path), speculator="standard", batching=policy
    ) as queue:
        names = ["a", "b", "c", "d"]
        uris = [
            queue.branch(n, {f"{n}.txt": ("BROKEN\n" if n == "d" else f"{n}\n")}) for n in names
        ]
        ids = [await queue.land(uri) for uri in uris]
        summaries = [await queue.settled(r) for r in ids]
        assert [s["status"] for s in summaries] == ["landed", "landed", "landed", "error"]

        # Landed in queue order, each with its own commit holding its own file.
        values = queue.target_values()
        assert len(values) == 3  # the seed, then (a b) in one push, then (c)
        landed_commits = []
        for request_id, name in zip(ids[:3], names[:3], strict=True):
            history = await queue.client.history(request_id)
            [merged] = [e for e in history["events"] if e.get("event") == "merged"]
            [commit] = merged["metadata"]["commits"].split(",")
            changed = queue.box.git(
                "show", "--name-only", "--format=", commit, cwd=queue.box.origin
            ).split()
            assert changed == [f"{name}.txt"]
            landed_commits.append(commit)
        first_parents = queue.box.git(
            "rev-list",
            "--reverse",
            "--first-parent",
            f"{values[0]}..{values[-1]}",
            cwd=queue.box.origin,
        ).split()
        assert first_parents == landed_commits
        assert queue.box.origin_file("refs/heads/main", "d.txt") is None

        # Every landed tree was built and passed.
        passed = set(lines(tmp_path / "passed"))
        assert {queue.tree(v) for v in values[1:]} <= passed

        # The culprit fails in the batch of its own the second split made, with the logs of
        # that batch's builds. Found by batch, not by place: the build of (c d) without (a b),
        # which the split leaves running, may report after (d)'s own builds.
        history = await queue.client.history(ids[3])
        events = [(e.get("event") or e.get("status"), e.get("metadata")) for e in history["events"]]
        splits = [e for e in history["events"] if e.get("event") == "split"]
        assert len(splits) == 2, events  # out of the four, then out of (c d)
        alone = splits[-1]["metadata"]["batch_id"]
        [ended] = [e for e in history["events"] if e.get("status") == "error"]
        assert ended["metadata"]["batch_id"] == alone, events
        own = [
            e["metadata"]["log_tail"]
            for e in history["events"]
            if e.get("event") == "build-failed" and e["metadata"]["batch_id"] == alone
        ]
        assert own, events
        assert all("found BROKEN" in tail for tail in own), events

        assert len(lines(tmp_path / "built")) == 7
