"""Throwaway repositories: a bare "origin" and a working clone, driven synchronously.

Used by tests (of the git layer, the merger, change providers, the greenness tracker) and to seed
demo repositories. Not for production paths: it blocks the caller while git runs.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from sq.platform.git.command import git_environment

ALICE = ("Alice Example", "alice@example.com")


class GitSandbox:
    """`root/origin.git` (bare, with reflogs so tests can count ref updates) and `root/work`."""

    def __init__(self, root: Path, *, branch: str = "main") -> None:
        self.root = root
        self.origin = root / "origin.git"
        self.work = root / "work"
        self.branch = branch
        self.origin.mkdir(parents=True)
        self.work.mkdir(parents=True)
        self.git("init", "--quiet", "--bare", f"--initial-branch={branch}", cwd=self.origin)
        self.git("config", "core.logAllRefUpdates", "always", cwd=self.origin)
        self.git("init", "--quiet", f"--initial-branch={branch}")
        self.git("remote", "add", "origin", str(self.origin))

    @classmethod
    def cloning(cls, origin: Path, work: Path, *, branch: str = "main") -> GitSandbox:
        """A working clone of an existing repository (`origin` is not created or changed)."""
        self = cls.__new__(cls)
        self.root, self.origin, self.work, self.branch = work.parent, origin, work, branch
        work.mkdir(parents=True)
        self.git("clone", "--quiet", str(origin), str(work), cwd=work.parent)
        return self

    def has_branch(self, branch: str) -> bool:
        return self.origin_ref(f"refs/heads/{branch}") is not None

    def git(self, *args: str, cwd: Path | None = None, author: tuple[str, str] = ALICE) -> str:
        name, email = author
        env = git_environment()
        env.update(
            GIT_AUTHOR_NAME=name,
            GIT_AUTHOR_EMAIL=email,
            GIT_COMMITTER_NAME=name,
            GIT_COMMITTER_EMAIL=email,
        )
        done = subprocess.run(
            ["git", *args],
            cwd=cwd or self.work,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    def seed(self, files: Mapping[str, str] | None = None) -> str:
        """First commit on the default branch, pushed; returns its sha."""
        sha = self.commit("seed the sandbox", files or {"README.md": "sandbox\n"})
        self.push(self.branch)
        return sha

    def checkout(self, branch: str, start: str | None = None) -> None:
        """Switch the working clone to `branch`, (re)created at `start` when given."""
        if start is None:
            self.git("checkout", "--quiet", branch)
        else:
            self.git("checkout", "--quiet", "-B", branch, start)

    def commit(
        self,
        message: str,
        files: Mapping[str, str | None] | None = None,
        *,
        author: tuple[str, str] = ALICE,
    ) -> str:
        """Write `files` (None deletes one) in the working clone, commit, and return the sha."""
        for name, content in (files or {}).items():
            path = self.work / name
            if content is None:
                path.unlink()
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message, author=author)
        return self.head()

    def push(self, branch: str, *, force: bool = False) -> None:
        args = ["push", "--quiet", "origin", f"{'+' if force else ''}{branch}:refs/heads/{branch}"]
        self.git(*args)

    def head(self) -> str:
        return self.git("rev-parse", "HEAD").strip()

    def origin_ref(self, ref: str) -> str | None:
        done = self.git("for-each-ref", "--format=%(objectname)", ref, cwd=self.origin).strip()
        return done or None

    def origin_subjects(self, ref: str, *, limit: int = 20) -> list[str]:
        """Subjects of the commits on `ref` in origin, newest first."""
        out = self.git("log", f"-{limit}", "--format=%s", ref, cwd=self.origin)
        return out.splitlines()

    def origin_file(self, ref: str, path: str) -> str | None:
        try:
            return self.git("show", f"{ref}:{path}", cwd=self.origin)
        except RuntimeError:
            return None

    def reflog_length(self, ref: str) -> int:
        """How many times `ref` was updated in origin (including its creation)."""
        return len(self.git("reflog", "show", "--format=%H", ref, cwd=self.origin).splitlines())
