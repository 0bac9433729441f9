"""`sq replay`: a repository's last commits land again, through the whole stack, as pull
requests onto the commit before them; the report counts the builds the queue spent."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from sq.platform.git.command import git_environment

pytestmark = pytest.mark.slow

CI = "#!/bin/sh\n! grep -rl --exclude-dir=.git FAIL -- src docs other\n"


def sq(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )


class Source:
    """A working repository whose `main` is the history to replay."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.commit("base", {"ci.sh": CI, "src/a.txt": "a1\na2\na3\n", "other/o.txt": "o\n"})

    def git(self, *args: str) -> str:
        env = git_environment() | {
            "GIT_AUTHOR_NAME": "Ann", "GIT_AUTHOR_EMAIL": "ann@example.com",
            "GIT_COMMITTER_NAME": "Ann", "GIT_COMMITTER_EMAIL": "ann@example.com",
        }  # fmt: skip
        done = subprocess.run(
            ["git", *args], cwd=self.root, env=env, capture_output=True, text=True, check=True
        )
        return done.stdout.strip()

    def commit(self, message: str, files: dict[str, str]) -> str:
        for name, content in files.items():
            path = self.root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "-m", message)
        return self.git("rev-parse", "HEAD")


def result(stdout: str) -> dict[str, str]:
    [line] = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    return dict(pair.split("=", 1) for pair in line.split()[1:])


def test_good_history_lands_on_one_build_each_and_rebuilds_the_tip(tmp_path: Path) -> None:
    source = Source(tmp_path / "source")
    pull_request = "".join(f"line {i}\n" for i in range(30))  # as long as most real ones
    source.commit("one", {"src/a.txt": "a1 one\na2\na3\n", "src/one.txt": pull_request})
    source.commit("two", {"src/b.txt": pull_request})
    source.commit("three", {"other/o.txt": "o three\n", "other/three.txt": pull_request})
    source.commit("four", {"src/a.txt": "a1 one\na2\na3 four\n", "src/four.txt": pull_request})
    tip = source.git("rev-parse", "main^{tree}")
    done = sq(
        "replay", str(source.root), "--last", "4", "--build-command", "sh ci.sh", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    figures = result(done.stdout)
    assert (figures["replayed"], figures["landed"], figures["skipped"]) == ("4", "4", "0")
    # Every change is good, so one build each: the history scorer starts every change at 0.95,
    # too likely to pass for a hedge (the size buckets would score these 0.40 and hedge), and
    # under exact landing the four build as one line, the lane in other/ included, so none is
    # outdated by another's landing and rebuilt.
    assert (figures["builds"], figures["builds_per_landed"]) == ("4", "1.00")
    assert figures["tree_matches_tip"] == "1"
    assert f"is the original tip's tree ({source.git('rev-parse', 'main')[:12]})" in done.stdout
    origin = tmp_path / ".sq" / "replay" / "origin.git"
    landed = subprocess.run(
        ["git", "--git-dir", str(origin), "rev-parse", "main^{tree}"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert landed == tip
    assert source.git("rev-parse", "main^{tree}") == tip  # the source is untouched


def test_a_bad_change_fails_and_one_that_needs_an_earlier_one_is_skipped(tmp_path: Path) -> None:
    source = Source(tmp_path / "source")
    source.commit("one", {"src/a.txt": "a1 one\na2\na3\n"})
    source.git("checkout", "--quiet", "-b", "side", "main")
    source.commit("docs on a side branch", {"docs/d.txt": "d\n"})
    source.git("checkout", "--quiet", "main")
    source.git("merge", "--quiet", "--no-ff", "-m", "Merge side", "side")
    bad = source.commit("bad", {"src/c.txt": "FAIL\n"})
    needs_one = source.commit("needs one", {"src/a.txt": "a1 one again\na2\na3\n"})
    source.commit("good", {"other/o.txt": "o good\n"})
    done = sq(
        "replay", str(source.root), "--last", "5", "--build-command", "sh ci.sh",
        "--sandbox", str(tmp_path / "box"), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert f"skipped {needs_one[:12]} 'needs one'" in done.stdout
    figures = result(done.stdout)
    assert (figures["replayed"], figures["landed"], figures["skipped"]) == ("4", "3", "1")
    rows = re.findall(r"^\s+replay/\d+\s+(\w+)\s+([0-9a-f]{12}) ", done.stdout, re.M)
    status = {sha: state for state, sha in rows}
    assert status.pop(bad[:12]) == "error"
    assert list(status.values()) == ["landed"] * 3
    assert "tree_matches_tip" not in figures
    subjects = subprocess.run(
        ["git", "--git-dir", str(tmp_path / "box" / "origin.git"), "log", "--format=%s", "main"],
        capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    assert subjects[:3] == ["good", "Merge side", "one"]  # the merge landed as one commit


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--last", "3"], "branch 'main' has 2 commits: --last can be at most 1"),
        (["--branch", "sq-replay/1"], "names the replay's own branches"),
        (["--branch", "nope"], "has no branch 'nope'"),
        (["--branch", "a..b"], "has no branch 'a..b'"),
        (["--build-command", " "], "--build-command is empty"),
        (["--last", "0"], "--last"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    source = Source(tmp_path / "source")
    source.commit("one", {"src/a.txt": "one\n"})
    options = ["--build-command", "true", *args]
    done = sq("replay", str(source.root), *options, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_directory_that_is_no_repository_or_a_used_sandbox_is_refused(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    done = sq("replay", str(plain), "--build-command", "true", cwd=tmp_path)
    assert (done.returncode, done.stderr.strip()) == (2, f"error: {plain} is not a git repository")
    source = Source(tmp_path / "source")
    source.commit("one", {"src/a.txt": "one\n"})
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep").write_text("x")
    done = sq(
        "replay", str(source.root), "--last", "1", "--build-command", "true",
        "--sandbox", str(used), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2
    assert "is not empty" in done.stderr
    assert (used / "keep").read_text() == "x"


def test_the_replay_never_clears_or_writes_into_the_repository(tmp_path: Path) -> None:
    """Its data directory (cleared before each replay) may not hold the source, nor lie in it."""
    source = Source(tmp_path / "data" / "replay" / "source")
    source.commit("one", {"src/a.txt": "one\n"})
    args = ["--last", "1", "--build-command", "true"]
    done = sq("replay", str(source.root), *args, "--data-dir", str(tmp_path / "data"), cwd=tmp_path)
    assert done.returncode == 2
    assert "which the replay would clear" in done.stderr
    assert source.git("log", "--format=%s") == "one\nbase"
    done = sq("replay", ".", *args, cwd=source.root)  # the default data directory, ./.sq
    assert done.returncode == 2
    assert "the data directory (--data-dir) is inside ." in done.stderr
    done = sq("replay", ".", *args, "--sandbox", "box", cwd=source.root)
    assert (done.returncode, "--sandbox is inside" in done.stderr) == (2, True)
    assert source.git("status", "--porcelain") == ""


def test_a_shallow_clone_replays(tmp_path: Path) -> None:
    source = Source(tmp_path / "source")
    for n in range(4):
        source.commit(f"c{n}", {f"src/f{n}.txt": f"{n}\n"})
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "--quiet", "--depth", "3", f"file://{source.root}", str(shallow)],
        check=True, capture_output=True,
    )  # fmt: skip
    done = sq("replay", str(shallow), "--last", "2", "--build-command", "true", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert result(done.stdout)["landed"] == "2"
