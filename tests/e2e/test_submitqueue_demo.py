"""`sq demo` as `make demo` runs it: changes land in a real git sandbox through the whole stack."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def sq(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


def git(origin: Path, *args: str) -> list[str]:
    out = subprocess.run(
        ["git", "--git-dir", str(origin), *args], capture_output=True, text=True, check=True
    )
    return out.stdout.splitlines()


def test_the_demo_lands_every_good_change_once_and_keeps_history_linear(tmp_path: Path) -> None:
    sandbox = tmp_path / "sandbox"
    done = sq(
        "demo", "--count", "11", "--folders", "3", "--fail", "1", "--stacked",
        "--sandbox", str(sandbox), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    origin = sandbox / "origin.git"
    assert f"Sandbox: {origin}" in done.stdout
    assert git(origin, "rev-list", "--merges", "main") == []
    subjects = git(origin, "log", "--format=%s", "main")
    assert subjects[-1] == "seed the sandbox"
    landed = [int(n) for s in subjects for n in re.findall(r"add change (\d+)$", s)]
    # 11 changes, stacked 2+3, 5+6, 8+9; change 6 (the middle one) fails, taking 5 with it
    dropped = {5, 6}
    assert sorted(landed) == sorted(set(range(1, 12)) - dropped)
    assert len(landed) == len(set(landed))  # each change exactly once
    builds = re.search(r"^Builds: (\d+) \((\d+) passed, (\d+) failed", done.stdout, re.M)
    assert builds, done.stdout[-2000:]
    funded, passed, failed = (int(n) for n in builds.groups())
    assert passed >= 7 and failed >= 1 and funded >= passed + failed  # 7 requests landed
    # the sandbox's test suite passes at every commit the queue put on main
    for sha in git(origin, "rev-list", "main"):
        tree = tmp_path / "check" / sha
        subprocess.run(
            ["git", "--git-dir", str(origin), "worktree", "add", "--detach", str(tree), sha],
            check=True,
            capture_output=True,
        )
        assert subprocess.run(["sh", "ci.sh"], cwd=tree, capture_output=True).returncode == 0


def test_the_fake_provider_needs_no_git(tmp_path: Path) -> None:
    done = sq("demo", "--provider", "fake", "--count", "4", "--fail", "1", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "3 of 4 requests landed; 1 made to fail. As expected." in done.stdout
    assert "Sandbox:" not in done.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "2", "--fail", "3"], "--fail 3 is more than --count 2"),
        (["--count", "0"], "--count"),
        (["--provider", "svn"], "--provider"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    done = sq("demo", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert message in done.stderr
    assert not (tmp_path / ".sq" / "demo").exists()


def test_a_sandbox_directory_that_is_not_empty_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken" / "something").mkdir(parents=True)
    done = sq("demo", "--sandbox", str(tmp_path / "taken"), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --sandbox taken is not empty; give a new directory" or (
        "is not empty" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    )
