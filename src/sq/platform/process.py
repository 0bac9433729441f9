"""Running a service until a signal: exit 0 when it stops cleanly, 143 after SIGTERM/SIGINT and a
graceful drain, 1 when starting, running or draining fails (platform-spec §2.8)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable

import structlog

from sq.platform.lifecycle import Component

EXIT_CLEAN = 0
EXIT_ERROR = 1
EXIT_SIGNALLED = 128 + signal.SIGTERM

log = structlog.get_logger("sq.process")


async def serve(
    component: Component, *, drain_seconds: float = 30.0, until: Awaitable[object] | None = None
) -> int:
    """Start `component`, run until a signal (or `until` finishes), then stop within the budget."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signalled: list[int] = []

    def on_signal(sig: int) -> None:
        signalled.append(sig)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        try:
            await component.start()
        except Exception:
            log.exception("start failed")
            return EXIT_ERROR
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
        if until is not None:
            waiters.append(asyncio.ensure_future(until))
        done, pending = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        failed = any(t.exception() for t in done if not t.cancelled())
        log.info("stopping", signal=signalled[0] if signalled else None)
        try:
            await asyncio.wait_for(component.stop(), drain_seconds)
        except Exception:
            log.exception("graceful stop failed")
            return EXIT_ERROR
        if failed:
            return EXIT_ERROR
        return EXIT_SIGNALLED if signalled else EXIT_CLEAN
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
