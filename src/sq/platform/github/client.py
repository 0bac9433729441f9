"""A small GitHub REST client over httpx: the calls the queue makes, and one error policy.

Every failure is classified here, once: a transport error or 5xx is `GitHubUnavailableError`, a
rate limit (429, or 403 with `Retry-After` or an exhausted `X-RateLimit-Remaining`) is
`GitHubRateLimitedError` — both retryable, so the message queue's backoff retries them — and
any other 4xx is `GitHubError` carrying the API's own message. The token goes only into the
`Authorization` header; no message or log line ever includes it.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx2

from sq.platform.errs import DependencyError, RetryableDependencyError

MAX_PAGES = 30
"""GitHub lists at most 3000 files of a pull request: 30 pages of 100."""
_DESCRIPTION_MAX = 140


class GitHubError(DependencyError):
    """GitHub refused a call for good (a 4xx that a retry cannot fix)."""

    def __init__(self, message: str, *, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class GitHubNotFoundError(GitHubError):
    """404: the repository, pull request or user does not exist (or the token cannot see it)."""


class GitHubUnavailableError(RetryableDependencyError):
    """GitHub could not answer now (connection failure, timeout, 5xx)."""


class GitHubRateLimitedError(GitHubUnavailableError):
    """A rate limit; `retry_after_s` is what GitHub asked for (the queue waits at least that)."""

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StatusState(enum.StrEnum):
    PENDING = "pending"
    SUCCESS = "success"
    FAILURE = "failure"
    ERROR = "error"


@dataclass(frozen=True, slots=True, kw_only=True)
class PullRequest:
    number: int
    state: str
    """`open` or `closed`."""
    merged: bool
    draft: bool
    head_sha: str
    base_ref: str
    """The branch name the pull request targets (`main`), not a full ref."""
    mergeable: bool | None
    """None while GitHub is still computing it."""
    html_url: str = ""
    author: str = ""
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PullFile:
    path: str
    additions: int = 0
    deletions: int = 0


class GitHubClient:
    """One token against one API base URL (`https://api.github.com`, or an Enterprise or test
    server's). Safe to share between tasks; `close` releases the connection pool."""

    def __init__(
        self,
        api_url: str,
        token: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None

    def __repr__(self) -> str:
        return f"GitHubClient({self.api_url!r})"

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def get_pull(self, owner: str, repo: str, number: int) -> PullRequest:
        data = await self._json("GET", f"{_repo_path(owner, repo)}/pulls/{number}")
        return _pull(data)

    async def pull_files(self, owner: str, repo: str, number: int) -> list[PullFile]:
        """Every file the pull request changes, following the `Link: rel="next"` pages."""
        url = f"{self.api_url}{_repo_path(owner, repo)}/pulls/{number}/files"
        return [_file(item) for item in await self._pages(url)]

    async def _pages(self, first: str) -> list[Mapping[str, Any]]:
        url: str | None = first
        params: dict[str, str] | None = {"per_page": "100"}
        items: list[Mapping[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = await self._send("GET", url, params=params)
            items.extend(_list(response.json()))
            url = self._next_page(response)
            params = None
        return items

    async def comment_bodies(self, owner: str, repo: str, number: int) -> list[str]:
        """The bodies of the pull request's comments, oldest first (every page)."""
        url = f"{self.api_url}{_repo_path(owner, repo)}/issues/{number}/comments"
        return [str(item.get("body", "")) for item in await self._pages(url)]

    async def create_status(
        self,
        owner: str,
        repo: str,
        sha: str,
        *,
        state: StatusState,
        context: str,
        description: str,
        target_url: str = "",
    ) -> None:
        body: dict[str, Any] = {
            "state": state.value,
            "context": context,
            "description": _shorten(description, _DESCRIPTION_MAX),
        }
        if target_url:
            body["target_url"] = target_url
        await self._json("POST", f"{_repo_path(owner, repo)}/statuses/{sha}", body)

    async def create_comment(self, owner: str, repo: str, number: int, body: str) -> None:
        await self._json(
            "POST", f"{_repo_path(owner, repo)}/issues/{number}/comments", {"body": body}
        )

    async def close_pull(self, owner: str, repo: str, number: int) -> None:
        await self._json("PATCH", f"{_repo_path(owner, repo)}/pulls/{number}", {"state": "closed"})

    async def permission(self, owner: str, repo: str, user: str) -> str:
        """The user's permission on the repository (`admin`, `write`, `read`, `none`)."""
        path = f"{_repo_path(owner, repo)}/collaborators/{quote(user, safe='')}/permission"
        try:
            data = await self._json("GET", path)
        except GitHubNotFoundError:
            return "none"
        value = data.get("permission") if isinstance(data, dict) else None
        return value if isinstance(value, str) else "none"

    # --- transport ------------------------------------------------------------------------

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(
                timeout=self._timeout_s,
                transport=self._transport,
                follow_redirects=False,
                headers={
                    "Accept": "application/vnd.github+json",
                    "X-GitHub-Api-Version": "2022-11-28",
                    "User-Agent": "sq-submitqueue",
                },
            )
        return self._client

    async def _json(self, method: str, path: str, body: object = None) -> Any:
        response = await self._send(method, f"{self.api_url}{path}", json=body)
        if not response.content:
            return {}
        return response.json()

    async def _send(
        self,
        method: str,
        url: str,
        *,
        json: object = None,
        params: Mapping[str, str] | None = None,
    ) -> httpx2.Response:
        shown = f"{method} {urlsplit(url).path}"
        headers = {"Authorization": f"Bearer {self._token}"}
        try:
            response = await self._http().request(
                method, url, json=json, params=params, headers=headers
            )
        except httpx2.TransportError as exc:
            raise GitHubUnavailableError(f"GitHub {shown}: {type(exc).__name__}") from exc
        _raise_for(shown, response)
        return response

    def _next_page(self, response: httpx2.Response) -> str | None:
        link = response.links.get("next", {}).get("url")
        if not link:
            return None
        # Never send the token anywhere but the configured API.
        if urlsplit(link).netloc != urlsplit(self.api_url).netloc:
            raise GitHubError(f"GitHub sent a next page on another host: {urlsplit(link).netloc}")
        return str(link)


def _raise_for(shown: str, response: httpx2.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    message = _api_message(response)
    wait = _rate_limit_wait(response)
    if status == 429 or (status == 403 and wait is not None):
        raise GitHubRateLimitedError(
            f"GitHub {shown}: rate limited ({message})", retry_after_s=wait or 60.0
        )
    if status >= 500 or status == 408:
        raise GitHubUnavailableError(f"GitHub {shown}: HTTP {status} ({message})")
    error = GitHubNotFoundError if status == 404 else GitHubError
    raise error(f"GitHub {shown}: HTTP {status}: {message}", status=status)


def _rate_limit_wait(response: httpx2.Response) -> float | None:
    retry_after = response.headers.get("Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0
    if response.headers.get("X-RateLimit-Remaining") == "0":
        reset = response.headers.get("X-RateLimit-Reset", "")
        try:
            return max(0.0, float(reset) - time.time())
        except ValueError:
            return 60.0
    return None


def _api_message(response: httpx2.Response) -> str:
    try:
        data = response.json()
    except ValueError:
        return _shorten(response.text.strip() or response.reason_phrase, 300)
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        return _shorten(data["message"], 300)
    return response.reason_phrase


def _repo_path(owner: str, repo: str) -> str:
    return f"/repos/{quote(owner, safe='')}/{quote(repo, safe='')}"


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _list(data: object) -> list[Mapping[str, Any]]:
    if not isinstance(data, list):
        raise GitHubError("GitHub answered a list call with something else")
    return [item for item in data if isinstance(item, Mapping)]


def _pull(data: object) -> PullRequest:
    if not isinstance(data, Mapping):
        raise GitHubError("GitHub answered a pull request call with something else")
    head = data.get("head") or {}
    base = data.get("base") or {}
    user = data.get("user") or {}
    mergeable = data.get("mergeable")
    return PullRequest(
        number=int(data.get("number", 0)),
        state=str(data.get("state", "")),
        merged=bool(data.get("merged", False)),
        draft=bool(data.get("draft", False)),
        head_sha=str(head.get("sha", "")),
        base_ref=str(base.get("ref", "")),
        mergeable=mergeable if isinstance(mergeable, bool) else None,
        html_url=str(data.get("html_url", "")),
        author=str(user.get("login", "")),
        labels=tuple(
            str(label.get("name", ""))
            for label in data.get("labels") or ()
            if isinstance(label, Mapping)
        ),
    )


def _file(item: Mapping[str, Any]) -> PullFile:
    return PullFile(
        path=str(item.get("filename", "")),
        additions=int(item.get("additions", 0)),
        deletions=int(item.get("deletions", 0)),
    )
