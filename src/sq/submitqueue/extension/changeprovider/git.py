"""A provider that reads changes from a git repository through a local clone it keeps fresh."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sq.platform.changeuri import ChangeURIError, GitChangeURI, parse
from sq.platform.errs import RetryableDependencyError
from sq.platform.git import GitError, GitRepo, changed_paths
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request
from sq.submitqueue.extension.changeprovider import ChangeProviderError


class GitChangeProvider:
    """Describes `git://` change URIs of one repository.

    Keeps a bare clone at `workspace` (fetches are incremental). For each URI: its commits are
    those reachable from it and not from the target (nor, in a stack, from the previous URI);
    paths and sizes come from `git diff --numstat` over the same range; the author is the head
    commit's. Calls are serialized by a lock.
    """

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

    async def _describe(self, request: Request) -> list[ChangeInfo]:
        repo = await GitRepo.open_workspace(self._workspace, self._repository)
        await repo.fetch([f"+{self._target}:refs/sq/target"])
        previous: str | None = None
        infos: list[ChangeInfo] = []
        for uri in request.uris:
            sha, ref = _pinned(uri)
            if not await repo.fetch_commit(sha, ref=ref, local_ref=f"refs/sq/changes/{sha}"):
                raise ChangeProviderError(f"commit {sha} of {uri} is not in the repository")
            if await repo.merge_base("refs/sq/target", sha) is None:
                raise ChangeProviderError(f"{uri} shares no history with {self._target}")
            exclude = ["refs/sq/target", *([previous] if previous else [])]
            commits = await repo.commits(sha, exclude=exclude, merges=False)
            base = await repo.merge_base(previous or "refs/sq/target", sha)
            stat = await changed_paths(repo, base, sha)
            author = await repo.commit_info(sha)
            infos.append(
                ChangeInfo(
                    uri=uri,
                    author=author.author_email,
                    commits=tuple(commits),
                    files=tuple(
                        ChangedFile(path=p.path, lines_added=p.added, lines_deleted=p.deleted)
                        for p in stat.files
                    ),
                )
            )
            previous = sha
        return infos


def _pinned(uri: str) -> tuple[str, str]:
    try:
        parsed = parse(uri)
    except ChangeURIError as exc:
        raise ChangeProviderError(str(exc)) from None
    if not isinstance(parsed, GitChangeURI):
        raise ChangeProviderError(f"{uri} is not a git:// change URI")
    return parsed.sha, parsed.ref
