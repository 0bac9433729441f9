"""Independent lanes through the whole stack on real git, under `pathoverlap`: two changes in
different folders build side by side and both pass. With `landing: disjoint` both build on the
same base and land on their one build each, and what each build changed lands exactly as built;
with `landing: exact` the queue orders them instead (the second builds on the first, as under
`all`), so each lands on its one build and every landed tree was built."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from sq.api.runway import LandingCheck
from support.git_queue import GitQueue, git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def command(root: Path) -> str:
    """A build notes its tree in `started`, waits while `hold` exists, then notes it in
    `passed`."""
    hold, started, passed = root / "hold", root / "started", root / "passed"
    return (
        f"git rev-parse HEAD^{{tree}} >> {started}; "
        f"while [ -e {hold} ]; do sleep 0.05; done; "
        f"git rev-parse HEAD^{{tree}} >> {passed}"
    )


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def subtree(queue: GitQueue, tree: str, path: str) -> str | None:
    try:
        return queue.box.git("rev-parse", f"{tree}:{path}", cwd=queue.box.origin).strip()
    except RuntimeError:
        return None


async def land_two_lanes(queue: GitQueue, root: Path) -> tuple[str, str]:
    """Queue a change in `a/` and one in `b/`, let both builds start on the same base, then let
    them pass together, and wait for both requests to land."""
    one = await queue.land(queue.branch("one", {"a/one.txt": "one\n"}))
    two = await queue.land(queue.branch("two", {"b/two.txt": "two\n"}))
    deadline = time.monotonic() + 60
    while len(lines(root / "started")) < 2:
        assert time.monotonic() < deadline, "the two lanes never built side by side"
        await anyio.sleep(0.05)
    assert len(set(lines(root / "started"))) == 2  # one build each
    (root / "hold").unlink()
    assert (await queue.settled(one))["status"] == "landed"
    assert (await queue.settled(two))["status"] == "landed"
    return one, two


async def outdated(queue: GitQueue, *requests: str) -> int:
    found = 0
    for request in requests:
        events = (await queue.client.history(request))["events"]
        found += sum(1 for e in events if e.get("event") == "outdated")
    return found


async def test_disjoint_lanes_land_on_one_build_each(tmp_path: Path) -> None:
    (tmp_path / "hold").touch()
    async with git_queue(
        tmp_path,
        command=command(tmp_path),
        conflict_analyzer="pathoverlap",
        landing=LandingCheck.DISJOINT,
    ) as queue:
        one, two = await land_two_lanes(queue, tmp_path)
        passed = lines(tmp_path / "passed")
        assert len(passed) == 2
        assert await outdated(queue, one, two) == 0
        first, second = (queue.tree(v) for v in queue.target_values()[1:])
        assert first in passed  # the first landing is exactly its build
        assert second not in passed  # the composition of the two lanes was never built
        built_a = next(t for t in passed if subtree(queue, t, "a") is not None)
        built_b = next(t for t in passed if subtree(queue, t, "b") is not None)
        assert subtree(queue, second, "a") == subtree(queue, built_a, "a")
        assert subtree(queue, second, "b") == subtree(queue, built_b, "b")
        for path in ("README.md", "shared.txt"):
            assert subtree(queue, second, path) == subtree(queue, built_b, path)


async def test_exact_orders_the_lanes_so_each_lands_on_its_one_build(tmp_path: Path) -> None:
    (tmp_path / "hold").touch()
    async with git_queue(
        tmp_path, command=command(tmp_path), conflict_analyzer="pathoverlap"
    ) as queue:
        one, two = await land_two_lanes(queue, tmp_path)
        passed = lines(tmp_path / "passed")
        assert len(passed) == 2
        assert await outdated(queue, one, two) == 0
        landed = [queue.tree(v) for v in queue.target_values()[1:]]
        assert sorted(landed) == sorted(passed)  # every landed tree is one of the two builds
        second = landed[1]
        assert subtree(queue, second, "a") is not None  # built on the first lane's change
        assert subtree(queue, second, "b") is not None
