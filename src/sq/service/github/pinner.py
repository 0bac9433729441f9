"""`sq land https://github.com/OWNER/REPO/pull/N`: the gateway pins such a pull request to its
current head (`github://…/N/SHA`) before queueing it, so the request names exactly one commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sq.platform.changeuri import GitHubChangeURI, parse
from sq.platform.github import (
    GitHubClient,
    GitHubError,
    GitHubNotFoundError,
    GitHubUnavailableError,
    repository_name,
)
from sq.submitqueue.gateway.errors import InvalidRequestError, UnavailableError


class GitHubPinner:
    def __init__(self, clients: Mapping[str, tuple[GitHubClient, str]]) -> None:
        """`clients`: per GitHub queue, its API client and repository URL."""
        self._clients = dict(clients)

    async def pin(self, queue: str, uris: Sequence[str]) -> tuple[str, ...]:
        found = self._clients.get(queue)
        if found is None:
            return tuple(uris)
        client, repository = found
        return tuple([await self._pin_one(client, repository, uri) for uri in uris])

    async def _pin_one(self, client: GitHubClient, repository: str, uri: str) -> str:
        parsed = parse(uri)  # already validated by the gateway
        if not isinstance(parsed, GitHubChangeURI) or parsed.sha is not None:
            return uri
        name = repository_name(repository)
        if (parsed.org.lower(), parsed.repo.lower()) != (name.owner.lower(), name.repo.lower()):
            raise InvalidRequestError(f"{uri} is not a pull request of {name.full_name}")
        try:
            pull = await client.get_pull(name.owner, name.repo, parsed.number)
        except GitHubNotFoundError:
            raise InvalidRequestError(f"{uri}: no such pull request") from None
        except GitHubUnavailableError as exc:
            raise UnavailableError(f"GitHub cannot answer now: {exc}") from None
        except GitHubError as exc:
            raise InvalidRequestError(f"{uri}: {exc}") from None
        pinned = GitHubChangeURI(
            host=name.host,
            org=name.owner,
            repo=name.repo,
            number=parsed.number,
            sha=pull.head_sha,
            query=parsed.query,
        )
        return str(pinned)
