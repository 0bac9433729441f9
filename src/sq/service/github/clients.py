"""Secrets and API clients of the queues on the GitHub provider.

A secret is read once, at start, from the environment variable or file its queue names; a missing
one is a `WiringError` (one line, `sq serve` exits 2). The token is also registered for git, for
URLs under the repository's owner, so fetches of `refs/pull/N/head` and runway's pushes use it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from sq.platform.git.credentials import register_http_token
from sq.platform.github import GitHubClient, repository_name
from sq.service.runtime import WiringError
from sq.service.settings_github import GitHubConfig
from sq.service.settings_submitqueue import QueueConfig


class GitHubConfigError(WiringError):
    """A GitHub queue whose token or webhook secret cannot be read."""


def github_config(queue: QueueConfig) -> GitHubConfig:
    return queue.github if queue.github is not None else GitHubConfig()


def read_secret(
    queue: str, what: str, env: str | None, file: str | None, environ: Mapping[str, str]
) -> str:
    """The secret from `file` when given, else from the variable `env`; raises when empty."""
    if file:
        try:
            value = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise GitHubConfigError(
                f"queue {queue!r}: cannot read the {what} file {file}: {exc.strerror}"
            ) from None
        if not value:
            raise GitHubConfigError(f"queue {queue!r}: the {what} file {file} is empty")
        return value
    if not env:
        raise GitHubConfigError(f"queue {queue!r}: no {what} configured (set {what}_env or _file)")
    value = environ.get(env, "").strip()
    if not value:
        raise GitHubConfigError(f"queue {queue!r}: environment variable {env} ({what}) is not set")
    return value


def read_token(queue: QueueConfig, environ: Mapping[str, str] | None = None) -> str:
    config = github_config(queue)
    env = os.environ if environ is None else environ
    return read_secret(queue.name, "token", config.token_env, config.token_file, env)


def read_webhook_secret(queue: QueueConfig, environ: Mapping[str, str] | None = None) -> str | None:
    """The webhook secret, or None when the queue configures no webhook."""
    config = github_config(queue)
    if not config.webhook_secret_env and not config.webhook_secret_file:
        return None
    env = os.environ if environ is None else environ
    return read_secret(
        queue.name, "webhook_secret", config.webhook_secret_env, config.webhook_secret_file, env
    )


def register_git_token(queue: QueueConfig) -> str:
    """Read the queue's token and give it to git for the repository's URLs; returns it."""
    token = read_token(queue)
    register_http_token(_repository_prefix(queue.repository), token)
    return token


class GitHubClients:
    """One client per (API URL, token), shared by the queues and services of one process."""

    def __init__(self) -> None:
        self._clients: dict[tuple[str, str], GitHubClient] = {}

    def for_queue(self, queue: QueueConfig) -> GitHubClient:
        token = register_git_token(queue)
        key = (github_config(queue).api_url, token)
        client = self._clients.get(key)
        if client is None:
            client = self._clients[key] = GitHubClient(key[0], token)
        return client

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        for client in self._clients.values():
            await client.close()
        self._clients.clear()


def _repository_prefix(repository: str) -> str:
    name = repository_name(repository)
    scheme = repository.split("://", 1)[0]
    # The owner's prefix: git matches URL paths on whole segments, and `REPO` would not cover
    # `REPO.git`.
    return f"{scheme}://{name.host}/{name.owner}/"
