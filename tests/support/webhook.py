"""A local webhook receiver on a real port: checks signatures and dedups events by id."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import FastAPI, Request, Response

from sq.platform.hooks import HookEvent, verify_signature
from sq.platform.hooks.webhook import EVENT_ID_HEADER, SIGNATURE_HEADER
from sq.service.http import HttpServer


@dataclass(frozen=True)
class Post:
    event_id: str
    signed: bool
    status: int


class Receiver:
    """Answers 401 to a bad signature, else `answer(event)` (200 by default). An event counts as
    received once, by its id, however often it is posted."""

    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.answer: Callable[[HookEvent, int], int] = lambda event, nth: 200
        self.posts: list[Post] = []
        self.received: dict[str, HookEvent] = {}
        self.port = 0
        self._server: HttpServer | None = None
        self.app = FastAPI()
        self.app.post("/hook")(self._hook)

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        event = HookEvent.model_validate_json(body)
        assert request.headers[EVENT_ID_HEADER] == event.id
        signed = verify_signature(self.secret, body, request.headers.get(SIGNATURE_HEADER))
        nth = sum(1 for p in self.posts if p.event_id == event.id)
        status = self.answer(event, nth) if signed else 401
        self.posts.append(Post(event.id, signed, status))
        if status < 300:
            self.received.setdefault(event.id, event)
        return Response(status_code=status)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def posts_of(self, event_id: str) -> int:
        return sum(1 for p in self.posts if p.event_id == event_id)

    async def start(self) -> None:
        """Listen on the port it had before (a restart), or on a free one the first time."""
        self._server = HttpServer(self.app, "127.0.0.1", self.port)
        await self._server.start()
        self.port = self._server.port

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()
            self._server = None
