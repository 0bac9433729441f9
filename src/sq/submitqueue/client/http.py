"""An async HTTP client of the gateway's `/api/v1`, with failures mapped to exit codes."""

from __future__ import annotations

from typing import Any

import httpx2

EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
HTTP_UNAVAILABLE = 503


class ClientError(Exception):
    """A call failed; `exit_code` is what `sq` exits with (1 failed, 2 bad input, 3 unreachable).
    `retryable`: the server was unavailable for now (503), so the same call may pass later."""

    def __init__(
        self, message: str, exit_code: int, code: str = "", *, retryable: bool = False
    ) -> None:
        super().__init__(message)
        self.message, self.exit_code, self.code = message, exit_code, code
        self.retryable = retryable


def _exit_code(status: int) -> int:
    if status >= 500:
        return EXIT_UNREACHABLE
    if status in (404, 409):
        return EXIT_FAILED
    return EXIT_BAD_INPUT


def request_path(sqid: str) -> str:
    queue, sep, number = sqid.rpartition("/")
    if not sep or not queue or not number.isdigit():
        raise ClientError(
            f"{sqid!r} is not a request id (expected <queue>/<number>)", EXIT_BAD_INPUT
        )
    return f"/api/v1/requests/{queue}/{number}"


class GatewayClient:
    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float | None = 10.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.base_url = base_url.rstrip("/")
        self._http = httpx2.AsyncClient(
            base_url=self.base_url, headers=headers, timeout=timeout, transport=transport
        )

    async def __aenter__(self) -> GatewayClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx2.HTTPError as exc:
            raise ClientError(f"cannot reach {self.base_url}: {exc}", EXIT_UNREACHABLE) from exc
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                code, message = str(error["code"]), str(error["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http_error", f"HTTP {response.status_code}"
            raise ClientError(
                message,
                _exit_code(response.status_code),
                code,
                retryable=response.status_code == HTTP_UNAVAILABLE,
            )
        body: dict[str, Any] = response.json()
        return body

    async def build_log(self, build_id: str) -> dict[str, Any]:
        """A build's whole log (served by the orchestrator: `sq serve all` shares the port)."""
        return await self.call("GET", "/api/v1/builds/log", params={"build_id": build_id})

    async def land(
        self, queue: str, uris: list[str], strategy: str | None, priority: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"queue": queue, "change_uris": uris}
        if strategy:
            body["strategy"] = strategy
        if priority:
            body["priority"] = priority
        return await self.call("POST", "/api/v1/requests", json=body)

    async def cancel(self, sqid: str, reason: str) -> dict[str, Any]:
        return await self.call("POST", f"{request_path(sqid)}/cancel", json={"reason": reason})

    async def status(self, sqid: str) -> dict[str, Any]:
        return await self.call("GET", request_path(sqid))

    async def history(self, sqid: str) -> dict[str, Any]:
        return await self.call("GET", f"{request_path(sqid)}/history")

    async def by_change(self, queue: str, uri: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/v1/queues/{queue}/changes", params={"uri": uri})

    async def histories_by_change(self, queue: str, uri: str) -> dict[str, Any]:
        path = f"/api/v1/queues/{queue}/changes/history"
        return await self.call("GET", path, params={"uri": uri})

    async def queue(self, name: str) -> dict[str, Any]:
        return await self.call("GET", f"/api/v1/queues/{name}")

    async def list_requests(
        self, queue: str, *, after_ms: int = 0, limit: int = 50
    ) -> list[dict[str, Any]]:
        """Newest first, following page tokens until `limit` (0 = all) rows; bounds fixed once."""
        rows: list[dict[str, Any]] = []
        params: dict[str, Any] = {"received_at_or_after_ms": after_ms, "page_size": 200}
        while True:
            page = await self.call("GET", f"/api/v1/queues/{queue}/requests", params=params)
            rows.extend(page["requests"])
            token = page.get("next_page_token")
            if not token or (limit and len(rows) >= limit):
                return rows[:limit] if limit else rows
            params = {"page_token": token, "page_size": 200}
