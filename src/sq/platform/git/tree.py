"""Building the exact tree a speculation path describes: target head + changes + the head change."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sq.platform.git.repo import GitRepo
from sq.platform.git.worktree import Worktree, add_worktree


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeCommits:
    name: str
    """How results refer to this change (its URI, say)."""
    commits: tuple[str, ...]
    """The change's own commits, oldest first; each must already be present in the repository."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PreparedTree:
    """A worktree holding the prepared tree. The caller owns it and must `remove()` it."""

    worktree: Worktree
    base: str
    """The commit the changes were applied on."""
    sha: str
    """HEAD of the worktree: the last applied commit (`base` when nothing applied)."""
    created: tuple[tuple[str, ...], ...]
    """New commits per change, in the order given (empty for a change already present)."""

    @property
    def path(self) -> Path:
        return self.worktree.path

    async def remove(self) -> None:
        await self.worktree.remove()


@dataclass(frozen=True, slots=True, kw_only=True)
class TreeConflict:
    change: str
    """Name of the change that did not apply."""
    commit: str
    paths: tuple[str, ...]

    @property
    def reason(self) -> str:
        where = ", ".join(self.paths) or "unknown paths"
        return f"change {self.change} conflicts at commit {self.commit[:12]} in {where}"


async def prepare_tree(
    repo: GitRepo,
    *,
    base: str,
    changes: Sequence[ChangeCommits],
    head: ChangeCommits | None = None,
) -> PreparedTree | TreeConflict:
    """Check out `base` in a new temporary worktree and replay each change's commits on it, in
    order, `head` last.

    Returns the worktree (the caller removes it) or, when a change does not apply, a
    `TreeConflict` naming it; the worktree is then already removed. Commits already present in
    the tree are skipped. Nothing outside the worktree changes: no ref moves and nothing is pushed,
    so it is safe for dry runs and for builds. Raises GitError on failures that are not conflicts
    (a missing commit, a merge commit in a change, a git failure).
    """
    ordered = [*changes, *([head] if head is not None else [])]
    worktree = await add_worktree(repo, base)
    try:
        created: list[tuple[str, ...]] = []
        for change in ordered:
            # A change the base already holds (landed while this path was planned) is skipped
            # whole: replaying its commits one by one would conflict with their squashed form.
            if change.commits and await repo.contains_change(
                await worktree.head(), change.commits[-1]
            ):
                created.append(())
                continue
            replay = await worktree.replay(change.commits)
            if replay.conflict is not None:
                await worktree.remove()
                return TreeConflict(
                    change=change.name, commit=replay.conflict.commit, paths=replay.conflict.paths
                )
            created.append(replay.created)
        return PreparedTree(
            worktree=worktree, base=base, sha=await worktree.head(), created=tuple(created)
        )
    except BaseException:
        await worktree.remove()
        raise
