"""Temporary detached worktrees, and the history rewrites done inside them."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from sq.platform.git.command import GitError
from sq.platform.git.repo import CommitInfo, GitRepo

WORKTREES_DIR = "sq-worktrees"
"""Where temporary worktrees live, inside the repository's git directory."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Conflict:
    commit: str
    """The commit that did not apply."""
    paths: tuple[str, ...]
    """Paths git left unmerged."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    created: tuple[str, ...] = ()
    """New commits, oldest first; commits whose changes were already present are skipped."""
    conflict: Conflict | None = None


class Worktree:
    """A checkout of one commit on a detached HEAD, so nothing done here moves a branch.

    One worktree is used by one task at a time. Remove it with `remove()` when done.
    """

    def __init__(self, repo: GitRepo, path: Path) -> None:
        self.repo = repo
        self.path = path
        self.git = repo.at(path)

    def __repr__(self) -> str:
        return f"Worktree({str(self.path)!r})"

    async def head(self) -> str:
        sha = await self.git.resolve("HEAD")
        assert sha is not None
        return sha

    async def reset(self, commit: str) -> None:
        await self.git.run("reset", "--quiet", "--hard", commit)

    async def replay(self, commits: Sequence[str]) -> Replay:
        """Cherry-pick `commits` in order onto HEAD, keeping their authors.

        A commit that turns out empty (its change is already present) is skipped. On a conflict
        the failed pick is aborted, HEAD stays at the last commit that applied, and the result
        names the commit and the unmerged paths. Merge commits cannot be replayed (GitError).
        """
        created: list[str] = []
        for commit in commits:
            out = await self.git.run(
                "cherry-pick", "--no-edit", "--allow-empty-message", commit, ok=(0, 1)
            )
            if out.returncode == 0:
                created.append(await self.head())
                continue
            unmerged = await self._unmerged_paths()
            if unmerged:
                await self.git.run("cherry-pick", "--abort")
                return Replay(
                    created=tuple(created), conflict=Conflict(commit=commit, paths=unmerged)
                )
            staged = await self.git.run("diff", "--cached", "--quiet", ok=(0, 1))
            if await self.git.resolve("CHERRY_PICK_HEAD") is None or staged.returncode != 0:
                raise GitError(
                    "cherry-pick failed",
                    argv=out.argv,
                    returncode=out.returncode,
                    stderr=out.stderr,
                )
            await self.git.run("cherry-pick", "--abort")
        return Replay(created=tuple(created))

    async def squash(self, onto: str, *, message: str, author: CommitInfo) -> str:
        """Replace the commits since `onto` with one commit of the same tree, authored by `author`,
        and return it."""
        tree = await self.git.tree_of("HEAD")
        out = await self.git.run(
            "commit-tree",
            tree,
            "-p",
            onto,
            "-F",
            "-",
            stdin=message.encode(),
            env=author.author_env(),
        )
        sha = out.text.strip()
        await self.git.run("reset", "--quiet", "--soft", sha)
        return sha

    async def merge(
        self, commit: str, *, message: str, author: CommitInfo, allow_unrelated: bool = False
    ) -> str | Conflict:
        """Record a merge commit (`--no-ff`) of `commit` into HEAD authored by `author`; on a
        conflict the merge is aborted and the conflict returned."""
        args = ["merge", "--quiet", "--no-ff", "--no-edit", "--no-verify", "-m", message]
        if allow_unrelated:
            args.append("--allow-unrelated-histories")
        out = await self.git.run(*args, commit, env=author.author_env(), ok=(0, 1))
        if out.returncode == 0:
            return await self.head()
        unmerged = await self._unmerged_paths()
        if not unmerged:
            raise GitError("merge failed", argv=out.argv, returncode=1, stderr=out.stderr)
        await self.git.run("merge", "--abort")
        return Conflict(commit=commit, paths=unmerged)

    async def remove(self) -> None:
        """Delete the worktree and its administrative files. Idempotent."""
        with contextlib.suppress(GitError):
            await self.repo.run("worktree", "remove", "--force", "--force", str(self.path))
        shutil.rmtree(self.path, ignore_errors=True)
        await self.repo.run("worktree", "prune")

    async def _unmerged_paths(self) -> tuple[str, ...]:
        out = await self.git.run("diff", "--name-only", "--diff-filter=U", "-z")
        return tuple(sorted({p for p in out.text.split("\0") if p}))


async def worktrees_root(repo: GitRepo) -> Path:
    out = await repo.run("rev-parse", "--git-common-dir")
    return (repo.path / out.text.strip()).resolve() / WORKTREES_DIR


async def add_worktree(repo: GitRepo, commit: str) -> Worktree:
    """A new temporary worktree of `repo` with `commit` checked out on a detached HEAD."""
    path = await worktrees_root(repo) / uuid.uuid4().hex
    await repo.run("worktree", "add", "--quiet", "--detach", str(path), commit)
    return Worktree(repo, path)


@contextlib.asynccontextmanager
async def temporary_worktree(repo: GitRepo, commit: str) -> AsyncIterator[Worktree]:
    """`add_worktree`, removed again on exit (also on error or cancellation)."""
    worktree = await add_worktree(repo, commit)
    try:
        yield worktree
    finally:
        await worktree.remove()


async def remove_stale_worktrees(repo: GitRepo) -> None:
    """Delete every temporary worktree of `repo`, e.g. those a crashed process left behind.

    Only safe when nothing else is using the repository's worktrees (call it at start-up).
    """
    shutil.rmtree(await worktrees_root(repo), ignore_errors=True)
    await repo.run("worktree", "prune")
