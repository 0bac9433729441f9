"""Land exactly what was built, through the whole stack on real git: every value the target takes
through the queue is a tree a passing build ran on (compared by tree hash), even when two changes
break only together, when a change builds only on top of the one ahead of it, and when someone
pushes to the target while a build runs."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from sq.submitqueue.core.messages import LandStrategy
from support.git_queue import GitQueue, git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]

RULES = (
    # a.txt and b.txt each pass alone and break the build together (a semantic conflict).
    "if [ -e a.txt ] && [ -e b.txt ]; then echo 'a and b together'; exit 1; fi; "
    # use.txt builds only on top of lib.txt.
    "if [ -e use.txt ] && [ ! -e lib.txt ]; then echo 'use without lib'; exit 1; fi; "
)


def command(root: Path) -> str:
    """The rules, then the tree the build ran on appended to `passed` when they hold. While the
    file `hold` exists, a build first notes its tree in `started` and waits for it to go."""
    hold, started, passed = root / "hold", root / "started", root / "passed"
    return (
        f"if [ -e {hold} ]; then git rev-parse HEAD^{{tree}} >> {started}; "
        f"while [ -e {hold} ]; do sleep 0.05; done; fi; "
        f"{RULES}git rev-parse HEAD^{{tree}} >> {passed}"
    )


def trees(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def landed_trees(queue: GitQueue, outside: set[str]) -> list[str]:
    """The tree of every value the queue gave the target (the seed and outside pushes left out)."""
    values = queue.target_values()[1:]
    return [queue.tree(sha) for sha in values if sha not in outside]


async def test_two_changes_that_break_only_together_do_not_both_land(tmp_path: Path) -> None:
    async with git_queue(tmp_path, command=command(tmp_path)) as queue:
        a = queue.branch("a", {"a.txt": "a\n"})
        b = queue.branch("b", {"b.txt": "b\n"})
        first, second = await queue.land(a), await queue.land(b)
        assert (await queue.settled(first))["status"] == "landed"
        assert (await queue.settled(second))["status"] == "error"
        assert queue.box.origin_file("refs/heads/main", "b.txt") is None
        passed = trees(tmp_path / "passed")
        assert landed_trees(queue, set()) == [queue.tree("refs/heads/main")]
        assert set(landed_trees(queue, set())) <= set(passed)


async def test_a_change_that_builds_only_on_the_one_ahead_lands_after_it(tmp_path: Path) -> None:
    async with git_queue(tmp_path, command=command(tmp_path)) as queue:
        lib = queue.branch("lib", {"lib.txt": "lib\n"})
        use = queue.branch("use", {"use.txt": "use\n"})
        first, second = await queue.land(lib), await queue.land(use)
        assert (await queue.settled(first))["status"] == "landed"
        assert (await queue.settled(second))["status"] == "landed"
        landed = landed_trees(queue, set())
        assert len(landed) == 2
        assert set(landed) <= set(trees(tmp_path / "passed"))


@pytest.mark.parametrize(
    "strategy", [LandStrategy.SQUASH_REBASE, LandStrategy.REBASE, LandStrategy.MERGE]
)
async def test_an_outside_push_during_a_build_means_a_new_build_then_landing(
    tmp_path: Path, strategy: LandStrategy
) -> None:
    (tmp_path / "hold").touch()
    async with git_queue(tmp_path, command=command(tmp_path), strategy=strategy) as queue:
        change = queue.branch("change", {"change.txt": "change\n"})
        request = await queue.land(change)
        deadline = time.monotonic() + 60
        while not trees(tmp_path / "started"):
            assert time.monotonic() < deadline, "the build never started"
            await anyio.sleep(0.05)
        queue.box.checkout("main")
        queue.box.git("pull", "--quiet", "--ff-only", "origin", "main")
        hotfix = queue.box.commit("hotfix from outside the queue", {"hotfix.txt": "hot\n"})
        queue.box.push("main")
        (tmp_path / "hold").unlink()

        assert (await queue.settled(request))["status"] == "landed"
        main = queue.box.origin_ref("refs/heads/main")
        assert main is not None
        assert queue.box.origin_file("refs/heads/main", "hotfix.txt") == "hot\n"
        assert queue.box.origin_file("refs/heads/main", "change.txt") == "change\n"
        first_build = trees(tmp_path / "started")[0]
        passed = trees(tmp_path / "passed")
        assert first_build in passed  # built without the hotfix, passed, and never landed
        assert landed_trees(queue, {hotfix}) == [queue.tree(main)]
        assert queue.tree(main) in passed
        assert queue.tree(main) != first_build
        events = (await queue.client.history(request))["events"]
        assert [e for e in events if e.get("event") == "outdated"]
