"""A provider that reads changes from a git repository through a local clone it keeps fresh."""

from __future__ import annotations

from sq.platform.changeuri import ChangeURIError, GitChangeURI, parse, repository_location
from sq.platform.git import GitRepo, changed_paths
from sq.submitqueue.entity.request import ChangedFile
from sq.submitqueue.extension.changeprovider import ChangeProviderError
from sq.submitqueue.extension.changeprovider.workspace import (
    TARGET_REF,
    Located,
    WorkspaceChangeProvider,
)


class GitChangeProvider(WorkspaceChangeProvider[Located]):
    """Describes `git://` change URIs of one repository.

    Keeps a bare clone at `workspace` (fetches are incremental). For each URI: its commits are
    those reachable from it and not from the target (nor, in a stack, from the previous URI);
    paths and sizes come from `git diff --numstat` over the same range; the author is the head
    commit's. Calls are serialized by a lock. A URI naming another repository is refused: its
    commit would be looked up, and landed, in this one.
    """

    async def _locate(self, uri: str) -> Located:
        parsed = _parsed(uri)
        host, repo = repository_location(self._repository)
        if (parsed.host.lower(), parsed.repo.strip("/").removesuffix(".git")) != (host, repo):
            raise ChangeProviderError(
                f"{uri} names repository {parsed.host}/{parsed.repo}; this queue lands into"
                f" {host}/{repo}"
            )
        return Located(sha=parsed.sha, ref=parsed.ref, label=uri)

    async def _details(
        self, repo: GitRepo, change: Located, previous: str | None
    ) -> tuple[str, tuple[ChangedFile, ...]]:
        base = await repo.merge_base(previous or TARGET_REF, change.sha)
        stat = await changed_paths(repo, base, change.sha)
        author = await repo.commit_info(change.sha)
        files = tuple(
            ChangedFile(path=p.path, lines_added=p.added, lines_deleted=p.deleted)
            for p in stat.files
        )
        return author.author_email, files


def _parsed(uri: str) -> GitChangeURI:
    try:
        parsed = parse(uri)
    except ChangeURIError as exc:
        raise ChangeProviderError(str(exc)) from None
    if not isinstance(parsed, GitChangeURI):
        raise ChangeProviderError(f"{uri} is not a git:// change URI")
    return parsed
