"""The body cap at the ASGI level: a declared length over it is refused before a byte is read; a
chunked body is cut off at the chunk that passes it, whatever the app was doing with it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from sq.service.http_guard import BodyLimitMiddleware

pytestmark = pytest.mark.anyio
CAP = 1000
Message = dict[str, Any]


async def echo_app(scope: Any, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


async def forgiving_app(scope: Any, receive: Callable[[], Awaitable[Message]], send: Any) -> None:
    """Answers 400 to a body it failed to read, as FastAPI does."""
    try:
        while (await receive()).get("more_body"):
            pass
        status, body = 200, b"ok"
    except Exception:
        status, body = 400, b"bad body"
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": body})


class Client:
    """Feeds `chunks` to the app one `receive` at a time and records what it sent back."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.reads = 0
        self.sent: list[Message] = []

    async def receive(self) -> Message:
        self.reads += 1
        index = self.reads - 1
        if index >= len(self.chunks):
            return {"type": "http.disconnect"}
        return {
            "type": "http.request",
            "body": self.chunks[index],
            "more_body": index < len(self.chunks) - 1,
        }

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        starts = [m for m in self.sent if m["type"] == "http.response.start"]
        assert len(starts) == 1, self.sent
        return int(starts[0]["status"])

    @property
    def body(self) -> bytes:
        return b"".join(m.get("body", b"") for m in self.sent if m["type"] == "http.response.body")


def http_scope(content_length: int | None = None) -> dict[str, Any]:
    headers = [] if content_length is None else [(b"content-length", str(content_length).encode())]
    return {"type": "http", "method": "POST", "path": "/x", "headers": headers}


async def call(app: Any, client: Client, scope: dict[str, Any]) -> None:
    await BodyLimitMiddleware(app, max_bytes=CAP)(scope, client.receive, client.send)


async def test_a_declared_length_over_the_cap_is_refused_before_reading() -> None:
    client = Client([b"x" * (CAP + 1)])
    await call(echo_app, client, http_scope(content_length=CAP + 1))
    assert client.status == 413
    assert client.reads == 0
    assert json.loads(client.body)["error"]["code"] == "body_too_large"


async def test_a_chunked_body_is_cut_at_the_chunk_that_passes_the_cap() -> None:
    client = Client([b"x" * 400] * 10)
    await call(echo_app, client, http_scope())
    assert client.status == 413
    assert client.reads == 3
    assert json.loads(client.body)["error"]["code"] == "body_too_large"


async def test_the_apps_own_answer_to_a_cut_body_gives_way_to_413() -> None:
    client = Client([b"x" * 600] * 2)
    await call(forgiving_app, client, http_scope())
    assert client.status == 413
    assert b"bad body" not in client.body


async def test_bodies_up_to_the_cap_pass() -> None:
    exact = Client([b"x" * 500] * 2)
    await call(echo_app, exact, http_scope(content_length=CAP))
    assert (exact.status, exact.body) == (200, str(CAP).encode())
    empty = Client([b""])
    await call(echo_app, empty, http_scope())
    assert (empty.status, empty.body) == (200, b"0")


async def test_a_lying_short_content_length_is_still_capped_by_the_stream() -> None:
    client = Client([b"x" * 800] * 2)
    await call(echo_app, client, http_scope(content_length=10))
    assert client.status == 413
