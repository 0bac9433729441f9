"""What the git and GitHub providers share: a bare clone kept fresh, and the walk over a stack.

Both describe a request's URIs the same way: fetch the target, then for each URI (oldest of a
stack first) fetch its commit, refuse it when it shares no history with the target, and list its
commits as those reachable from it and not from the target nor the previous URI. Where the commit
comes from and who wrote which files is each provider's own (`_locate`, `_details`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

from sq.platform.errs import RetryableDependencyError
from sq.platform.git import GitError, GitRepo
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request
from sq.submitqueue.extension.changeprovider import ChangeProviderError

TARGET_REF = "refs/sq/target"


@dataclass(frozen=True, slots=True, kw_only=True)
class Located:
    sha: str
    ref: str
    """Where to fetch `sha` from when the clone does not have it."""
    label: str
    """How errors name the change."""


L = TypeVar("L", bound=Located)


class WorkspaceChangeProvider(Generic[L]):
    """Calls are serialized by a lock; git failures are retryable, what the change is, not."""

    def __init__(self, *, repository: str, target: str, workspace: Path) -> None:
        self._repository = repository
        self._target = target
        self._workspace = workspace
        self._lock = asyncio.Lock()

    async def get(self, request: Request) -> list[ChangeInfo]:
        async with self._lock:
            try:
                return await self._describe(request)
            except GitError as exc:
                raise RetryableDependencyError(f"git failed describing {request.id}") from exc

    async def target_head(self) -> str:
        """The commit the target names in the repository now (a build's base)."""
        async with self._lock:
            try:
                repo = await GitRepo.open_workspace(self._workspace, self._repository)
                head = (await repo.ls_remote([self._target])).get(self._target)
            except GitError as exc:
                raise RetryableDependencyError(f"git failed reading {self._target}") from exc
        if head is None:
            raise RetryableDependencyError(f"{self._target} does not exist in the repository")
        return head

    async def _locate(self, uri: str) -> L:
        raise NotImplementedError

    async def _details(
        self, repo: GitRepo, change: L, previous: str | None
    ) -> tuple[str, tuple[ChangedFile, ...]]:
        """The change's author and the files it touches."""
        raise NotImplementedError

    async def _describe(self, request: Request) -> list[ChangeInfo]:
        repo = await GitRepo.open_workspace(self._workspace, self._repository)
        await repo.fetch([f"+{self._target}:{TARGET_REF}"])
        previous: str | None = None
        infos: list[ChangeInfo] = []
        for uri in request.uris:
            change = await self._locate(uri)
            sha = change.sha
            if not await repo.fetch_commit(sha, ref=change.ref, local_ref=f"refs/sq/changes/{sha}"):
                raise ChangeProviderError(
                    f"commit {sha} of {change.label} is not in the repository"
                )
            if await repo.merge_base(TARGET_REF, sha) is None:
                raise ChangeProviderError(f"{change.label} shares no history with {self._target}")
            exclude = [TARGET_REF, *([previous] if previous else [])]
            commits = await repo.commits(sha, exclude=exclude, merges=False)
            author, files = await self._details(repo, change, previous)
            infos.append(ChangeInfo(uri=uri, author=author, commits=tuple(commits), files=files))
            previous = sha
        return infos
