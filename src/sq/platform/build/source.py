"""The exact tree of a build, in a local bare clone of its repository that is kept per repository.

Shared by every runner: the command runner builds the tree in place; the remote runners push it to
a queue-owned ref for their CI to check out.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from sq.platform.build import BuildRequest
from sq.platform.changeuri import ChangeURIError, parse
from sq.platform.git import (
    ChangeCommits,
    GitError,
    GitRepo,
    PreparedTree,
    TreeConflict,
    prepare_tree,
)


class BuildSources:
    """Fetches a build's base and layers into `workspace_dir/<digest of the repository>` and
    prepares its tree there. Fetches of one repository are serialized; preparing trees is not."""

    def __init__(self, workspace_dir: Path) -> None:
        self._workspace_dir = workspace_dir
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
            repo = await GitRepo.open_workspace(self._workspace_dir / digest, request.repository)
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
