"""`sq land --branch` names a branch; a revision expression or `HEAD` is refused in one line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sq.service.cli.client import _branch_uri


def _repo(tmp_path: Path) -> str:
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "feat")
    git("-c", "user.name=t", "-c", "user.email=t@e", "commit", "-q", "--allow-empty", "-m", "a")
    git("tag", "v1")
    return str(tmp_path)


@pytest.mark.parametrize("branch", ["feat~0", "HEAD", "@", "v1", "SHA"])
def test_what_git_resolves_but_is_no_branch_is_refused(
    tmp_path: Path, branch: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`feat~1` was an uncaught ChangeURIError traceback; `HEAD` and `@` landed as
    `refs/heads/HEAD` and `refs/heads/@`, a tag or a sha as a branch of that name."""
    repo = _repo(tmp_path)
    if branch == "SHA":
        branch = subprocess.run(
            ["git", "-C", repo, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
        ).stdout.strip()
    with pytest.raises(SystemExit) as exited:
        _branch_uri(repo, branch)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and f"{branch!r}" in err and err.count("\n") == 1


def test_a_branch_resolves_to_its_head(tmp_path: Path) -> None:
    assert "/refs%2Fheads%2Ffeat/" in _branch_uri(_repo(tmp_path), "feat")
