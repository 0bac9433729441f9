"""A set of services in this process: one runtime, their HTTP routers on one port, one lifecycle.

`sq serve` runs one until a signal; `sq demo` runs one around its own work.
"""

from __future__ import annotations

from collections.abc import Sequence

from sq.platform.lifecycle import Group
from sq.platform.messagequeue.sql.metrics import queue_collector
from sq.platform.metrics import app_registry
from sq.service import services  # noqa: F401  (registers every service builder)
from sq.service.dashboard import dashboard_router
from sq.service.http import HttpServer, build_app
from sq.service.runtime import SERVICES, Runtime
from sq.service.settings import Settings


class _Ready:
    def __init__(self) -> None:
        self.ok = False

    async def start(self) -> None:
        self.ok = True

    async def stop(self) -> None:
        self.ok = False


class LocalStack:
    """The named services over one runtime; `/readyz` answers 200 once everything started."""

    def __init__(self, settings: Settings, names: Sequence[str], host: str, port: int) -> None:
        unknown = [n for n in names if n not in SERVICES]
        if unknown:
            raise ValueError(f"unknown service {unknown[0]!r}")
        self.runtime = Runtime(settings)
        parts = [SERVICES[name](self.runtime) for name in names]
        ready = _Ready()
        queue_metrics = queue_collector(self.runtime.queue_engine, self.runtime.clock.now_ms)
        registry = app_registry([queue_metrics, *(c for p in parts for c in p.collectors)])
        self.app = build_app(
            [*(r for p in parts for r in p.routers), dashboard_router()],
            ready=lambda: ready.ok,
            access=settings.auth.access(),
            max_body_bytes=settings.http.max_body_bytes,
            registry=registry,
        )
        self.http = HttpServer(self.app, host, port)
        self.group = Group(*[c for p in parts for c in p.components], self.http, ready)

    @property
    def address(self) -> str:
        return f"http://{self.http.server.config.host}:{self.http.port}"

    async def close(self) -> None:
        """Release the queue and the databases, after the group has stopped."""
        await self.runtime.queue.close()
        self.runtime.dispose()


def service_names() -> list[str]:
    return sorted(SERVICES)
