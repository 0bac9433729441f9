"""The exact tree of a build, in a local bare clone of its repository that is kept per repository.

Shared by every runner: the command runner builds the tree in place; the remote runners push it to
a queue-owned ref for their CI to check out.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Collection, Mapping
from pathlib import Path

from sq.platform.build import BuildRequest
from sq.platform.changeuri import ChangeURIError, parse
from sq.platform.git import (
    ChangeCommits,
    GitError,
    GitOutput,
    GitRepo,
    PreparedTree,
    TreeConflict,
    prepare_tree,
)


class _Workspace(GitRepo):
    """A workspace whose every git command also gets `extra_env` (credentials for the remote,
    passed through git's environment so that they reach neither argv nor a file)."""

    extra_env: Mapping[str, str] = {}

    async def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok: Collection[int] = (0,),
        timeout_s: float | None = None,
    ) -> GitOutput:
        merged = {**self.extra_env, **(env or {})}
        return await super().run(*args, stdin=stdin, env=merged or None, ok=ok, timeout_s=timeout_s)


class BuildSources:
    """Fetches a build's base and layers into `workspace_dir/<digest of the repository>` and
    prepares its tree there. Fetches of one repository are serialized; preparing trees is not.
    `git_env` is added to every git command of the workspaces (see `_Workspace`)."""

    def __init__(self, workspace_dir: Path, *, git_env: Mapping[str, str] | None = None) -> None:
        self._workspace_dir = workspace_dir
        self._git_env = dict(git_env or {})
        self._repo_locks: dict[str, asyncio.Lock] = {}

    async def prepare(self, request: BuildRequest) -> tuple[GitRepo, PreparedTree | TreeConflict]:
        """The request's tree in a temporary worktree the caller removes, or the conflict that
        stops it. Raises GitError (or ChangeURIError) when a commit cannot be had."""
        repo, base = await self.fetch(request)
        layers = [ChangeCommits(name=layer.name, commits=layer.commits) for layer in request.layers]
        return repo, await prepare_tree(repo, base=base, changes=layers)

    async def fetch(self, request: BuildRequest) -> tuple[GitRepo, str]:
        """The workspace holding every commit of the request, and its base resolved to a sha."""
        digest = hashlib.sha256(request.repository.encode()).hexdigest()[:16]
        async with self._repo_locks.setdefault(digest, asyncio.Lock()):
            repo = await _Workspace.open_workspace(self._workspace_dir / digest, request.repository)
            assert isinstance(repo, _Workspace)  # open_workspace builds `cls`
            repo.extra_env = self._git_env
            if request.base.startswith("refs/"):
                local = f"refs/sq/builds/{hashlib.sha256(request.build_id.encode()).hexdigest()}"
                await repo.fetch([f"+{request.base}:{local}"])
                base = await repo.resolve(local)
            else:
                base = request.base if await repo.fetch_commit(request.base) else None
            if base is None:
                raise GitError(f"base {request.base} not found", argv=[], returncode=None)
            for layer in request.layers:
                ref = _ref_of(layer.name)
                for sha in layer.commits:
                    if not await repo.fetch_commit(sha, ref=ref):
                        raise GitError(
                            f"commit {sha} of {layer.name} not found", argv=[], returncode=None
                        )
            return repo, base


def _ref_of(name: str) -> str | None:
    try:
        return getattr(parse(name), "ref", None)
    except ChangeURIError:
        return None
