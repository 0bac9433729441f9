"""Everything the services of one process share, and the registry of services.

`sq serve NAME…` builds a `Runtime` from the settings, asks each named service's builder for its
HTTP routers and its components (pipelines, pollers), and runs them under one lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from fastapi import APIRouter
from sqlalchemy.engine import Engine

from sq.platform import migrations
from sq.platform.clock import Clock, SystemClock
from sq.platform.consumer.gate import SqlGate
from sq.platform.db import create_engine
from sq.platform.lifecycle import Component
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.messagequeue.sql.watch import watcher_for
from sq.platform.metrics import Collector
from sq.service.settings import Settings


class WiringError(ValueError):
    """The configuration is valid on its own but cannot be wired here (an unset secret, say);
    `sq serve` reports it in one line and exits 2."""


@dataclass
class ServiceParts:
    name: str
    routers: list[APIRouter] = field(default_factory=list)
    components: list[Component] = field(default_factory=list)
    collectors: list[Collector] = field(default_factory=list)
    """Metrics read from the service's own database when `/metrics` is scraped."""


class Runtime:
    def __init__(self, settings: Settings, clock: Clock | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.queue_engine = create_engine(settings.queue_url())
        migrations.upgrade(self.queue_engine, migrations.queue_schema())
        self.queue_store = SqlQueueStore(self.queue_engine)
        self.queue = MessageQueue(
            self.queue_store,
            clock=self.clock,
            max_payload_bytes=settings.mq.max_payload_bytes,
            watcher=watcher_for(self.queue_engine, store=self.queue_store),
        )
        self.gate = SqlGate(self.queue_engine, self.queue_store)
        self._engines: dict[str, Engine] = {}

    def engine_for(
        self, service: str, *schemas: migrations.SchemaSet, url: str | None = None
    ) -> Engine:
        """The service's own database (default `<data_dir>/<service>.db`), migrated."""
        if service not in self._engines:
            target = url or f"sqlite:///{(self.settings.data_dir / f'{service}.db').resolve()}"
            engine = create_engine(target)
            migrations.upgrade(engine, *schemas)
            self._engines[service] = engine
        return self._engines[service]

    def dispose(self) -> None:
        for engine in self._engines.values():
            engine.dispose()
        self.queue_store.close()
        self.queue_engine.dispose()


Builder = Callable[[Runtime], ServiceParts]
SERVICES: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    def add(builder: Builder) -> Builder:
        SERVICES[name] = builder
        return builder

    return add
