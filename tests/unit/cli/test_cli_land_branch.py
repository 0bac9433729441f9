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
    return str(tmp_path)


@pytest.mark.parametrize(
    ("branch", "says"),
    [("feat~0", "not a valid git ref name"), ("HEAD", "is not a branch")],
)
def test_what_git_resolves_but_is_no_branch_is_refused(
    tmp_path: Path, branch: str, says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """`feat~1` was an uncaught ChangeURIError traceback; `HEAD` landed as `refs/heads/HEAD`."""
    repo = _repo(tmp_path)
    with pytest.raises(SystemExit) as exited:
        _branch_uri(repo, branch)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --branch {branch!r}") and says in err and err.count("\n") == 1


def test_a_branch_resolves_to_its_head(tmp_path: Path) -> None:
    assert "/refs%2Fheads%2Ffeat/" in _branch_uri(_repo(tmp_path), "feat")
