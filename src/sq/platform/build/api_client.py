"""The HTTP side of the remote runners: one JSON client, the errors it raises, and token reading.

A response is an error when its status is not 2xx. Rate limits (429, or 403 with `Retry-After` or
`X-RateLimit-Remaining: 0`), 5xx, 408 and transport failures raise `BuildRunnerBusyError`: the
caller's stage retries through the queue's backoff, and `retry_after_s` carries the server's hint
(the queue's retry then waits at least that long: `errs.retry_after_ms`).
Any other 4xx raises `BuildRunnerRejectedError` with the API's own message: retrying cannot help.
The token is sent as a bearer header and appears in no message or log.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx2

from sq.platform.build import BuildRunnerError
from sq.platform.clock import Clock, SystemClock
from sq.platform.errs import DependencyError, RetryableDependencyError


class BuildRunnerBusyError(BuildRunnerError, RetryableDependencyError):
    """The CI is rate limiting, failing (5xx) or unreachable: try again later."""

    def __init__(self, message: str, *, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class BuildRunnerRejectedError(BuildRunnerError, DependencyError):
    """The CI refused the request for good (bad token, unknown pipeline, invalid input)."""

    def __init__(self, message: str, *, status_code: int) -> None:
        super().__init__(message)
        self.status_code = status_code


class TokenError(ValueError):
    """The configured token is missing (an unset variable, an unreadable or empty file)."""


def read_token(
    *, env: str | None, file: str | None, environ: Mapping[str, str] | None = None
) -> str:
    """The token from the variable named `env`, else from the file named `file`."""
    source = os.environ if environ is None else environ
    if env:
        token = source.get(env, "").strip()
        if not token:
            raise TokenError(f"environment variable {env} is not set")
        return token
    if file:
        try:
            token = Path(file).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TokenError(f"token file {file} cannot be read: {exc.strerror}") from None
        if not token:
            raise TokenError(f"token file {file} is empty")
        return token
    raise TokenError("no token_env or token_file configured")


class ApiClient:
    """JSON requests to one API base URL with a bearer token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        name: str,
        headers: Mapping[str, str] | None = None,
        timeout_s: float = 30.0,
        clock: Clock | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"{name} api_url must be http(s), not {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.name = name
        self._headers = {"Authorization": f"Bearer {token}", **(headers or {})}
        self._timeout_s = timeout_s
        self._clock = clock or SystemClock()
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(
                timeout=self._timeout_s,
                transport=self._transport,
                headers=self._headers,
                follow_redirects=False,
            )
        return self._client

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Any:
        """The decoded JSON body (None for an empty one, or a 404 when `missing_ok`)."""
        response = await self.send(method, path, json=json, params=params, missing_ok=missing_ok)
        if response is None or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise BuildRunnerBusyError(f"{self.name}: {method} {path}: not JSON") from exc

    async def text(self, url_or_path: str) -> str:
        """A plain-text resource (a log), following the redirects logs are served through."""
        url = url_or_path if "://" in url_or_path else self.base_url + url_or_path
        for _ in range(5):
            if httpx2.URL(url).netloc == httpx2.URL(self.base_url).netloc:
                response = await self._send("GET", url, None, None)
            else:  # a signed download URL elsewhere: the token stays with the API
                response = await self._send_anonymous(url)
            if response.status_code in (301, 302, 303, 307, 308):
                url = str(httpx2.URL(url).join(response.headers.get("location", "")))
                continue
            self._check("GET", url_or_path, response)
            return response.text
        raise BuildRunnerBusyError(f"{self.name}: GET {url_or_path}: too many redirects")

    async def send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> httpx2.Response | None:
        response = await self._send(method, self.base_url + path, json, params)
        if missing_ok and response.status_code == 404:
            return None
        self._check(method, path, response)
        return response

    async def _send(
        self, method: str, url: str, json: Any, params: Mapping[str, str] | None
    ) -> httpx2.Response:
        try:
            return await self._http().request(method, url, json=json, params=params)
        except httpx2.HTTPError as exc:
            raise BuildRunnerBusyError(
                f"{self.name}: {method} {url}: {type(exc).__name__}"
            ) from exc

    async def _send_anonymous(self, url: str) -> httpx2.Response:
        try:
            async with httpx2.AsyncClient(
                timeout=self._timeout_s, transport=self._transport, follow_redirects=False
            ) as client:
                return await client.get(url)
        except httpx2.HTTPError as exc:
            raise BuildRunnerBusyError(f"{self.name}: GET a log: {type(exc).__name__}") from exc

    def _check(self, method: str, path: str, response: httpx2.Response) -> None:
        code = response.status_code
        if 200 <= code < 300:
            return
        what = f"{self.name}: {method} {path} -> {code}: {_message(response)}"
        limited = code == 429 or (
            code == 403
            and (
                "retry-after" in response.headers
                or response.headers.get("x-ratelimit-remaining") == "0"
            )
        )
        if limited or code >= 500 or code == 408:
            raise BuildRunnerBusyError(what, retry_after_s=self._retry_after(response))
        raise BuildRunnerRejectedError(what, status_code=code)

    def _retry_after(self, response: httpx2.Response) -> float | None:
        after = response.headers.get("retry-after")
        if after:
            try:
                return max(0.0, float(after))
            except ValueError:
                try:
                    when = parsedate_to_datetime(after).timestamp() * 1000
                except (TypeError, ValueError):
                    return None
                return max(0.0, (when - self._clock.now_ms()) / 1000)
        reset = response.headers.get("x-ratelimit-reset")
        if reset and response.headers.get("x-ratelimit-remaining") == "0":
            try:
                return max(0.0, float(reset) - self._clock.now_ms() / 1000)
            except ValueError:
                return None
        return None


def _message(response: httpx2.Response) -> str:
    """The API's own explanation: `message` (both APIs), else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    if isinstance(body, dict):
        message = body.get("message") or body.get("error")
        if isinstance(message, str):
            return message
    return str(body)[:200]
