"""A provider for GitHub pull requests: the REST API says what they are, git fetches their commits.

A change is `github://HOST/OWNER/REPO/pull/N/SHA` (pinned: what the webhook enqueues, and what
runway lands) or `https://HOST/OWNER/REPO/pull/N` (the pull request's current head). A pull
request is refused, with the reason, when it is closed, a draft, aimed at another branch, known to
conflict with its base, or when its head is no longer the commit it was queued at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sq.platform.changeuri import ChangeURIError, GitHubChangeURI, parse
from sq.platform.git import GitRepo
from sq.platform.github import GitHubClient, GitHubError, PullRequest, repository_name
from sq.submitqueue.entity.request import ChangedFile
from sq.submitqueue.extension.changeprovider import ChangeProviderError
from sq.submitqueue.extension.changeprovider.workspace import Located, WorkspaceChangeProvider


@dataclass(frozen=True, slots=True, kw_only=True)
class _Pull(Located):
    number: int
    author: str


class GitHubChangeProvider(WorkspaceChangeProvider[_Pull]):
    """Describes the pull requests of one repository.

    `repository` is the repository's git URL (`https://github.com/OWNER/REPO`), which also names
    the `OWNER/REPO` the API is asked about; `client` carries the API URL and token. Commits are
    fetched from `refs/pull/N/head` into a bare clone at `workspace`. Calls are serialized.
    """

    def __init__(
        self, *, client: GitHubClient, repository: str, target: str, workspace: Path
    ) -> None:
        super().__init__(repository=repository, target=target, workspace=workspace)
        self._client = client
        self._name = repository_name(repository)

    async def _locate(self, uri: str) -> _Pull:
        change = self._pull_uri(uri)
        label = f"{self._name.full_name}#{change.number}"
        pull = await self._pull(change, label)
        return _Pull(
            sha=change.sha or pull.head_sha,
            ref=change.ref,
            label=label,
            number=change.number,
            author=pull.author,
        )

    async def _details(
        self, repo: GitRepo, change: _Pull, previous: str | None
    ) -> tuple[str, tuple[ChangedFile, ...]]:
        try:
            files = await self._client.pull_files(self._name.owner, self._name.repo, change.number)
        except GitHubError as exc:
            raise ChangeProviderError(f"{change.label}: {exc}") from exc
        return change.author, tuple(
            ChangedFile(path=f.path, lines_added=f.additions, lines_deleted=f.deletions)
            for f in files
        )

    def _pull_uri(self, uri: str) -> GitHubChangeURI:
        try:
            parsed = parse(uri)
        except ChangeURIError as exc:
            raise ChangeProviderError(str(exc)) from None
        if not isinstance(parsed, GitHubChangeURI):
            raise ChangeProviderError(f"{uri} is not a GitHub pull request URI")
        same = (
            parsed.host == self._name.host
            and parsed.org.lower() == self._name.owner.lower()
            and parsed.repo.lower() == self._name.repo.lower()
        )
        if not same:
            raise ChangeProviderError(
                f"{uri} is not a pull request of {self._name.host}/{self._name.full_name}"
            )
        return parsed

    async def _pull(self, change: GitHubChangeURI, label: str) -> PullRequest:
        try:
            pull = await self._client.get_pull(self._name.owner, self._name.repo, change.number)
        except GitHubError as exc:
            raise ChangeProviderError(f"{label}: {exc}") from exc
        problem = pull_problem(pull, target=self._target, pinned=change.sha)
        if problem:
            raise ChangeProviderError(f"{label} {problem}")
        return pull


def pull_problem(pull: PullRequest, *, target: str, pinned: str | None) -> str:
    """Why `pull` cannot be landed on `target` as the commit `pinned`; empty when it can."""
    if pull.merged:
        return "is already merged"
    if pull.state != "open":
        return "is closed"
    if pull.draft:
        return "is a draft"
    if f"refs/heads/{pull.base_ref}" != target:
        return f"targets {pull.base_ref}, not {target.removeprefix('refs/heads/')}"
    if pinned is not None and pull.head_sha != pinned:
        return f"has new commits (head {pull.head_sha[:12]}, queued at {pinned[:12]})"
    if pull.mergeable is False:
        return "conflicts with its base branch"
    return ""
