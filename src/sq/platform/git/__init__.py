"""The git CLI, wrapped for asyncio: the one way the system reads, rewrites and pushes history.

- `command`: `run_git` (argv lists, scrubbed environment, timeout that kills the process group),
  `GitError`, `Identity`.
- `repo`: `GitRepo` — workspaces, resolving refs, ancestry, commit ranges, fetching.
- `diff`: changed paths and sizes of a range.
- `worktree`: temporary detached worktrees; cherry-pick, squash and merge inside them.
- `tree`: `prepare_tree`, the exact tree a speculation path describes.
- `push`: ref updates as compare-and-swap pushes.
- `sandbox`: throwaway repositories for tests and demos.
"""

from sq.platform.git.command import (
    DEFAULT_TIMEOUT_S,
    RUNWAY_IDENTITY,
    GitError,
    GitOutput,
    GitTimeoutError,
    Identity,
    git_environment,
    run_git,
)
from sq.platform.git.diff import DiffStat, PathChange, changed_paths
from sq.platform.git.push import ABSENT, PushResult, PushStatus, RefPushResult, RefUpdate, push
from sq.platform.git.repo import CommitInfo, GitRepo
from sq.platform.git.tree import ChangeCommits, PreparedTree, TreeConflict, prepare_tree
from sq.platform.git.worktree import (
    Conflict,
    Replay,
    Worktree,
    add_worktree,
    remove_stale_worktrees,
    temporary_worktree,
)

__all__ = [
    "ABSENT",
    "DEFAULT_TIMEOUT_S",
    "RUNWAY_IDENTITY",
    "ChangeCommits",
    "CommitInfo",
    "Conflict",
    "DiffStat",
    "GitError",
    "GitOutput",
    "GitRepo",
    "GitTimeoutError",
    "Identity",
    "PathChange",
    "PreparedTree",
    "PushResult",
    "PushStatus",
    "RefPushResult",
    "RefUpdate",
    "Replay",
    "TreeConflict",
    "Worktree",
    "add_worktree",
    "changed_paths",
    "git_environment",
    "prepare_tree",
    "push",
    "remove_stale_worktrees",
    "run_git",
    "temporary_worktree",
]
