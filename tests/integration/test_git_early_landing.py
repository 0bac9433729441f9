"""Early landing on real git: H lands ahead of its dependency D, and D lands after a rebuild.

D arrives first and its own build is held; H conflicts with D (the `all` analyzer). The standard
speculator builds H on D and H without D; both pass while D's build waits, so H's passed builds
cover every outcome of D and H lands on the tree without D. D's build never contained H, so
runway finds the target moved (`outdated`), D is built again on the target holding H, and lands.
Every value the queue gave the target is a tree a passing build ran on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.git_queue import git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def command(root: Path) -> str:
    """D alone (d.txt without h.txt) waits while `hold` exists; every build that ends appends
    its tree to `passed`."""
    hold, passed = root / "hold", root / "passed"
    return (
        f"if [ -e d.txt ] && [ ! -e h.txt ]; then "
        f"while [ -e {hold} ]; do sleep 0.05; done; fi; "
        f"git rev-parse HEAD^{{tree}} >> {passed}"
    )


def trees(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def test_h_lands_ahead_of_d_and_d_lands_after_a_build_on_h(tmp_path: Path) -> None:
    (tmp_path / "hold").touch()
    async with git_queue(
        tmp_path, command=command(tmp_path), speculator="standard", early_landing=True
    ) as queue:
        d = await queue.land(queue.branch("d", {"d.txt": "d\n"}))
        h = await queue.land(queue.branch("h", {"h.txt": "h\n"}))
        assert (await queue.settled(h))["status"] == "landed"
        assert queue.box.origin_file("refs/heads/main", "d.txt") is None
        assert (await queue.client.status(d))["status"] not in {"landed", "error"}
        (tmp_path / "hold").unlink()

        assert (await queue.settled(d))["status"] == "landed"
        assert queue.box.origin_file("refs/heads/main", "d.txt") == "d\n"
        assert queue.box.origin_file("refs/heads/main", "h.txt") == "h\n"
        landed = [queue.tree(sha) for sha in queue.target_values()[1:]]
        assert len(landed) == 2
        passed = trees(tmp_path / "passed")
        assert set(landed) <= set(passed)
        events = (await queue.client.history(d))["events"]
        assert [e for e in events if e.get("event") == "outdated"]
