"""Pending-failure depth on real git: D's own build fails, E behind it passes with D under it,
and both land in one push whose tree is the one E's passing build ran on.

D and E conflict (the `all` analyzer); the standard speculator builds D alone, E on D and E
without D. The build command fails a tree holding only one of d.txt and e.txt, so the only
passing build is E on D. With a depth of 1, D waits for it and lands inside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.git_queue import git_queue

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


def command(root: Path) -> str:
    """Fails unless d.txt and e.txt are both present or both absent; every passing build
    appends its tree to `passed`. D's own build fails only once a build of E has begun: E is
    then behind D with its builds planned when D's verdict is due. Else, on a loaded machine, D
    could fail before E even reached the queue, and nothing would be left to carry it."""
    passed, e_began = root / "passed", root / "e-began"
    return (
        f"if [ -e e.txt ]; then touch {e_began}; fi; "
        "if [ -e d.txt ] && [ ! -e e.txt ]; then "
        f"for i in $(seq 300); do [ -e {e_began} ] && break; sleep 0.1; done; exit 1; fi; "
        "if [ -e e.txt ] && [ ! -e d.txt ]; then exit 1; fi; "
        f"git rev-parse HEAD^{{tree}} >> {passed}"
    )


async def test_d_lands_inside_the_passing_build_of_e(tmp_path: Path) -> None:
    async with git_queue(
        tmp_path, command=command(tmp_path), speculator="standard", pending_failure_depth=1
    ) as queue:
        d = await queue.land(queue.branch("d", {"d.txt": "d\n"}))
        e = await queue.land(queue.branch("e", {"e.txt": "e\n"}))
        assert (await queue.settled(e))["status"] == "landed"
        assert (await queue.settled(d))["status"] == "landed"
        assert queue.box.origin_file("refs/heads/main", "d.txt") == "d\n"
        assert queue.box.origin_file("refs/heads/main", "e.txt") == "e\n"
        values = queue.target_values()
        assert len(values) == 2  # the seed, then one push holding both changes
        passed = (tmp_path / "passed").read_text().split()
        assert passed == [queue.tree(values[-1])]  # exactly the tree E's build ran on
        first_parents = queue.box.git(
            "rev-list", "--first-parent", f"{values[0]}..{values[1]}", cwd=queue.box.origin
        ).split()
        assert len(first_parents) == 2  # D's commit, then E's
