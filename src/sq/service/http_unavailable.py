"""503 for a request that failed on a transient error (the database refused or dropped the
connection, SQLite stayed locked past its busy timeout): the client may try again, and the log
gets one line per burst instead of a traceback per request.

Whether an error is transient is decided by `sq.platform.errs` (the classifiers the consumers use
to retry), so a genuine bug (bad SQL, a missing table) still answers 500 with its traceback.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import structlog
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Send
from starlette.types import Scope as AsgiScope

from sq.platform import errs

log = structlog.get_logger("sq.http")

LOG_EVERY_S = 60.0
"""While a dependency stays down, one log line per this many seconds (with a count)."""


def is_unavailable(exc: BaseException) -> bool:
    return errs.is_retryable(errs.verdict_of(exc, errs.DEFAULT_CLASSIFIERS))


def retry_after_s(exc: BaseException) -> int:
    """The dependency's own hint when the error carries one, else `errs.RETRY_AFTER_S`."""
    hint_ms = errs.retry_after_ms(exc)
    return errs.RETRY_AFTER_S if hint_ms is None else max(1, math.ceil(hint_ms / 1000))


def unavailable_response(exc: BaseException) -> JSONResponse:
    wait = retry_after_s(exc)
    message = f"temporarily unavailable (the database or another dependency); try again in {wait}s"
    return JSONResponse(
        {"error": {"code": "unavailable", "message": message}},
        status_code=503,
        headers={"Retry-After": str(wait)},
    )


class BurstLog:
    """Logs the first failure of a burst, then at most one line per `every_s` while it lasts,
    each with how many requests were answered 503 since the line before."""

    def __init__(
        self, every_s: float = LOG_EVERY_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.every_s, self.clock = every_s, clock
        self._logged_at: float | None = None
        self._answered = 0

    def note(self, exc: BaseException) -> bool:
        """Count one 503; True when this one was logged."""
        self._answered += 1
        now = self.clock()
        if self._logged_at is not None and now - self._logged_at < self.every_s:
            return False
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning(
            "answering 503: a dependency is unavailable",
            answered=self._answered,
            error_type=type(exc).__name__,
            error=reason,
        )
        self._logged_at, self._answered = now, 0
        return True


class UnavailableMiddleware:
    """Turns a transient error a route raised, before it answered, into a 503."""

    def __init__(self, app: ASGIApp, burst: BurstLog | None = None) -> None:
        self.app = app
        self.burst = BurstLog() if burst is None else burst

    async def __call__(self, scope: AsgiScope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started or not is_unavailable(exc):
                raise
            self.burst.note(exc)
            await unavailable_response(exc)(scope, receive, send)
