"""GitHub's REST API as the queue uses it: pull requests, statuses, comments, permissions.

`client`: `GitHubClient` and its errors (rate limits and 5xx are retryable, other 4xx carry the
API's message); `repository`: which `owner/repo` a repository URL names.
"""

from sq.platform.github.client import (
    GitHubClient,
    GitHubError,
    GitHubNotFoundError,
    GitHubRateLimitedError,
    GitHubUnavailableError,
    PullFile,
    PullRequest,
    StatusState,
)
from sq.platform.github.repository import RepositoryName, repository_name

__all__ = [
    "GitHubClient",
    "GitHubError",
    "GitHubNotFoundError",
    "GitHubRateLimitedError",
    "GitHubUnavailableError",
    "PullFile",
    "PullRequest",
    "RepositoryName",
    "StatusState",
    "repository_name",
]
