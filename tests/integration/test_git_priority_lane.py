"""The priority lane on real git: a high-priority change lands before an earlier normal one that
conflicts with it, and every value the target takes is a tree a passing build ran on."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest

from support.git_queue import git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def command(root: Path) -> str:
    """Every build waits while `hold` exists; one with `h.txt` also waits while `hold-h` exists
    (after noting its tree in `started-h`). A build that ends appends its tree to `passed`."""
    hold, hold_h, started_h, passed = (root / n for n in ("hold", "hold-h", "started-h", "passed"))
    return (
        f"while [ -e {hold} ]; do sleep 0.05; done; "
        f"if [ -e h.txt ]; then git rev-parse HEAD^{{tree}} >> {started_h}; "
        f"while [ -e {hold_h} ]; do sleep 0.05; done; fi; "
        f"git rev-parse HEAD^{{tree}} >> {passed}"
    )


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def wait_for(path: Path) -> None:
    deadline = time.monotonic() + 60
    while not lines(path):
        assert time.monotonic() < deadline, f"nothing in {path.name}"
        await anyio.sleep(0.05)


async def test_a_high_priority_change_overtakes_an_earlier_conflicting_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "hold").touch()
    (tmp_path / "hold-h").touch()
    async with git_queue(tmp_path, command=command(tmp_path)) as queue:
        a = await queue.land(queue.branch("a", {"a.txt": "a\n"}))
        h = await queue.land(queue.branch("h", {"h.txt": "h\n"}), priority="high")
        (tmp_path / "hold").unlink()  # A's build passes; H's still runs
        await wait_for(tmp_path / "started-h")
        await anyio.sleep(1.5)
        assert (await queue.client.status(a))["status"] != "landed"  # held behind H
        (tmp_path / "hold-h").unlink()

        assert (await queue.settled(h))["status"] == "landed"
        assert (await queue.settled(a))["status"] == "landed"
        values = queue.target_values()[1:]
        assert len(values) == 2
        first = queue.box.git("ls-tree", "--name-only", values[0], cwd=queue.box.origin).split()
        assert "h.txt" in first and "a.txt" not in first  # H landed first
        passed = set(lines(tmp_path / "passed"))
        assert {queue.tree(v) for v in values} <= passed  # every landed tree was built
        events = (await queue.client.history(a))["events"]
        assert [e for e in events if e.get("event") == "outdated"]  # A was built again on H
