"""The remote runners' HTTP client: which answers are worth a retry, with what delay, and the
token kept out of every message."""

from __future__ import annotations

from pathlib import Path

import httpx2
import pytest

from sq.platform.build.api_client import (
    ApiClient,
    BuildRunnerBusyError,
    BuildRunnerRejectedError,
    TokenError,
    read_token,
)
from sq.platform.clock import FakeClock

pytestmark = pytest.mark.anyio
TOKEN = "tok-123"


def client(status: int, headers: dict[str, str], body: object, clock: FakeClock) -> ApiClient:
    def answer(request: httpx2.Request) -> httpx2.Response:
        assert request.headers["authorization"] == f"Bearer {TOKEN}"
        return httpx2.Response(status, headers=headers, json=body)

    return ApiClient(
        "https://ci.example", TOKEN, name="ci", clock=clock, transport=httpx2.MockTransport(answer)
    )


async def test_a_retry_after_date_becomes_seconds_from_now() -> None:
    clock = FakeClock(start_ms=1_767_323_045_000)  # 2026-01-02T03:04:05Z
    api = client(503, {"Retry-After": "Fri, 02 Jan 2026 03:04:35 GMT"}, {}, clock)
    with pytest.raises(BuildRunnerBusyError) as raised:
        await api.call("GET", "/x")
    assert raised.value.retry_after_s == 30.0
    await api.close()


async def test_a_403_without_a_rate_limit_is_a_refusal_with_the_apis_message() -> None:
    api = client(403, {}, {"message": "Resource not accessible by integration"}, FakeClock())
    with pytest.raises(BuildRunnerRejectedError) as raised:
        await api.call("POST", "/dispatch")
    assert "Resource not accessible by integration" in str(raised.value)
    assert TOKEN not in str(raised.value)
    await api.close()


async def test_a_missing_404_is_none_when_allowed() -> None:
    api = client(404, {}, {"message": "Not Found"}, FakeClock())
    assert await api.call("GET", "/gone", missing_ok=True) is None
    with pytest.raises(BuildRunnerRejectedError):
        await api.call("GET", "/gone")
    await api.close()


def test_tokens_come_from_the_named_variable_or_file(tmp_path: Path) -> None:
    assert read_token(env="T", file=None, environ={"T": " abc \n"}) == "abc"
    (tmp_path / "t").write_text("from-file\n")
    assert read_token(env=None, file=str(tmp_path / "t"), environ={}) == "from-file"
    with pytest.raises(TokenError, match="T is not set"):
        read_token(env="T", file=None, environ={})
    with pytest.raises(TokenError, match="cannot be read"):
        read_token(env=None, file=str(tmp_path / "missing"), environ={})
