"""The GitHub client's one error policy, over a mock transport: what is retried, what fails with
the API's message, pages followed, and the token kept out of every message."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx2
import pytest

from sq.platform import errs
from sq.platform.github import (
    GitHubClient,
    GitHubError,
    GitHubNotFoundError,
    GitHubRateLimitedError,
    GitHubUnavailableError,
    StatusState,
)

pytestmark = pytest.mark.anyio
TOKEN = "ghp_secret_token_value"
API = "https://api.example.test"


def _client(handler: Callable[[httpx2.Request], httpx2.Response]) -> GitHubClient:
    return GitHubClient(API, TOKEN, transport=httpx2.MockTransport(handler))


def _answer(status: int, body: object = None, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    def handle(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(status, json=body if body is not None else {}, headers=headers)

    return handle


async def test_a_429_is_a_retryable_rate_limit_with_the_wait_github_asked_for() -> None:
    client = _client(_answer(429, {"message": "slow down"}, {"Retry-After": "17"}))
    with pytest.raises(GitHubRateLimitedError) as caught:
        await client.get_pull("acme", "web", 1)
    assert caught.value.retry_after_s == 17
    assert errs.verdict_of(caught.value) is errs.Verdict.INFRA_DEPENDENCY_RETRYABLE


async def test_a_403_with_an_exhausted_quota_is_a_rate_limit_not_a_refusal() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}
    client = _client(_answer(403, {"message": "API rate limit exceeded"}, headers))
    with pytest.raises(GitHubRateLimitedError):
        await client.get_pull("acme", "web", 1)


async def test_5xx_and_transport_failures_are_retryable() -> None:
    with pytest.raises(GitHubUnavailableError):
        await _client(_answer(502)).get_pull("acme", "web", 1)

    def refuse(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused", request=request)

    with pytest.raises(GitHubUnavailableError) as caught:
        await _client(refuse).get_pull("acme", "web", 1)
    assert errs.verdict_of(caught.value) is errs.Verdict.INFRA_DEPENDENCY_RETRYABLE


async def test_other_4xx_fail_for_good_with_the_apis_message() -> None:
    client = _client(_answer(422, {"message": "Validation Failed: state is invalid"}))
    with pytest.raises(GitHubError) as caught:
        await client.create_status(
            "acme", "web", "a" * 40, state=StatusState.SUCCESS, context="sq", description="d"
        )
    assert "Validation Failed: state is invalid" in str(caught.value)
    assert caught.value.status == 422
    assert errs.verdict_of(caught.value) is errs.Verdict.INFRA_DEPENDENCY
    with pytest.raises(GitHubNotFoundError):
        await _client(_answer(404, {"message": "Not Found"})).get_pull("acme", "web", 9)


async def test_the_token_is_sent_as_a_header_and_never_appears_in_an_error() -> None:
    seen: list[str] = []

    def handle(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers["Authorization"])
        return httpx2.Response(401, json={"message": "Bad credentials"})

    with pytest.raises(GitHubError) as caught:
        await _client(handle).get_pull("acme", "web", 1)
    assert seen == [f"Bearer {TOKEN}"]
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(_client(handle))


async def test_changed_files_follow_every_page_on_the_same_host_only() -> None:
    def pages(request: httpx2.Request) -> httpx2.Response:
        page = int(request.url.params.get("page", "1"))
        files = [{"filename": f"f{page}.txt", "additions": page, "deletions": 0}]
        headers = {}
        if page < 3:
            headers["Link"] = f'<{API}/repos/acme/web/pulls/1/files?page={page + 1}>; rel="next"'
        return httpx2.Response(200, content=json.dumps(files).encode(), headers=headers)

    files = await _client(pages).pull_files("acme", "web", 1)
    assert [f.path for f in files] == ["f1.txt", "f2.txt", "f3.txt"]

    def elsewhere(request: httpx2.Request) -> httpx2.Response:
        link = '<https://evil.example/next>; rel="next"'
        return httpx2.Response(200, json=[], headers={"Link": link})

    with pytest.raises(GitHubError):
        await _client(elsewhere).pull_files("acme", "web", 1)


async def test_a_pull_request_is_read_into_what_the_provider_needs() -> None:
    body = {
        "number": 7,
        "state": "open",
        "draft": True,
        "merged": False,
        "mergeable": None,
        "head": {"sha": "b" * 40},
        "base": {"ref": "main"},
        "user": {"login": "alice"},
        "labels": [{"name": "sq-land"}],
    }
    pull = await _client(_answer(200, body)).get_pull("acme", "web", 7)
    assert (pull.number, pull.draft, pull.head_sha, pull.base_ref) == (7, True, "b" * 40, "main")
    assert pull.mergeable is None
    assert pull.labels == ("sq-land",)
