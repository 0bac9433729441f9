"""Stovepipe on the in-memory queue: fake SourceControl, a scripted BuildRunner, SQLite storage."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sq.platform import migrations
from sq.platform.build import BuildRequest, BuildState, BuildStatus, UnknownBuildError
from sq.platform.counter import Counter
from sq.platform.db import create_engine
from sq.platform.hooks import HookDeps, HookEvent, MemoryHookStore
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import Pipeline, construct
from sq.stovepipe.controller.ingest import IngestController
from sq.stovepipe.deps import Deps, QueueSetup
from sq.stovepipe.entity import Queue, Request
from sq.stovepipe.extension.projectmapper import ProjectMapper
from sq.stovepipe.extension.sourcecontrol.fake import FakeSourceControl, FakeSourceControlFactory
from sq.stovepipe.stages import TOPIC_NAMES, stages
from sq.stovepipe.storage import SqlStorage, schema
from support.mq import Harness

Q = "monorepo/main"


def scope_of(request: BuildRequest) -> str:
    """`head`, or `head#project` for a project-scoped build."""
    project = request.labels.get("stovepipe.project", "")
    return f"{request.base}#{project}" if project else request.base


@dataclass
class ScriptedRunner:
    """A BuildRunner test double: builds finish with `outcomes[scope]`, or stay running until a
    test calls `finish(scope, state)`; `trigger_errors[scope]` makes trigger raise. A scope is the
    head, or `head#project` for a project's build."""

    outcomes: dict[str, BuildState] = field(default_factory=dict)
    hold: set[str] = field(default_factory=set)
    trigger_errors: dict[str, Exception] = field(default_factory=dict)
    status_errors: dict[str, Exception] = field(default_factory=dict)
    triggered: list[BuildRequest] = field(default_factory=list)
    builds: dict[str, BuildStatus] = field(default_factory=dict)
    heads: dict[str, str] = field(default_factory=dict)

    async def trigger(self, request: BuildRequest) -> BuildStatus:
        scope = scope_of(request)
        if scope in self.trigger_errors:
            raise self.trigger_errors[scope]
        if request.build_id in self.builds:
            return self.builds[request.build_id]
        self.triggered.append(request)
        self.heads[request.build_id] = scope
        state = BuildState.RUNNING
        if scope not in self.hold:
            state = self.outcomes.get(scope, BuildState.PASSED)
        self.builds[request.build_id] = BuildStatus(build_id=request.build_id, state=state)
        return self.builds[request.build_id]

    async def status(self, build_id: str) -> BuildStatus:
        head = self.heads.get(build_id, "")
        if head in self.status_errors:
            raise self.status_errors[head]
        if build_id not in self.builds:
            raise UnknownBuildError(build_id)
        return self.builds[build_id]

    async def cancel(self, build_id: str) -> BuildStatus:
        status = replace(self.builds[build_id], state=BuildState.CANCELLED)
        self.builds[build_id] = status
        return status

    async def log(self, build_id: str) -> str:
        return ""

    def finish(self, head: str, state: BuildState = BuildState.PASSED) -> None:
        for build_id, h in self.heads.items():
            if h == head:
                self.builds[build_id] = BuildStatus(build_id=build_id, state=state)

    def forget(self) -> None:
        """A runner restart: every build is gone."""
        self.builds.clear()

    @property
    def heads_built(self) -> list[str]:
        """Scopes in trigger order."""
        return [scope_of(r) for r in self.triggered]


class RecordingSink:
    """A HookSink that keeps every event it is handed (a redelivery appears twice)."""

    def __init__(self) -> None:
        self.events: list[HookEvent] = []

    async def handle(self, event: HookEvent) -> None:
        self.events.append(event)

    def of(self, type_: str) -> list[dict[str, Any]]:
        return [e.payload for e in self.events if e.type == type_]


class Stovepipe:
    def __init__(
        self,
        tmp_path: Path,
        *,
        setup: QueueSetup | None = None,
        storage: type[SqlStorage] = SqlStorage,
        mapper: ProjectMapper | None = None,
    ) -> None:
        self.h = Harness(MemoryQueueStore())
        engine = create_engine(f"sqlite:///{tmp_path / 'stovepipe.db'}")
        migrations.upgrade(engine, schema(), migrations.counter_schema())
        self.sc_factory = FakeSourceControlFactory(self.h.clock)
        self.sc: FakeSourceControl = self.sc_factory.add(Q)
        self.runner = ScriptedRunner()
        self.store = storage(engine)
        self.events = RecordingSink()
        self.deps = Deps(
            storage=self.store,
            source_control=self.sc_factory,
            runner=self.runner,
            counter=Counter(engine),
            queues={Q: setup or QueueSetup(name=Q, full_command="make test")},
            clock=self.h.clock,
            mappers={} if mapper is None else {Q: mapper},
            hooks=HookDeps(sink=self.events, store=MemoryHookStore(), clock=self.h.clock),
        )
        self.ingester = IngestController(self.deps, self.h.queue)
        self.pipeline: Pipeline = construct(
            self.h.queue, self.deps, stages(), topic_names=TOPIC_NAMES
        )

    async def start(self) -> Stovepipe:
        await self.pipeline.start()
        return self

    async def stop(self) -> None:
        await self.h.queue.close()

    async def push_and_ingest(self, *uris: str) -> list[str]:
        ids = []
        for uri in uris:
            self.sc.push(uri)
            ids.append((await self.ingester.ingest(Q)).id)
        return ids

    async def settle(self, dead_letters: int = 0) -> None:
        await self.h.settle(dead_letters)

    async def advance(self, seconds: float, dead_letters: int = 0) -> None:
        await self.h.advance(seconds, dead_letters)

    def request(self, rid: str) -> Request:
        return self.store.get_request(Q, rid)

    def queue(self) -> Queue:
        return self.store.get_queue(Q)

    def states(self, ids: list[str]) -> list[str]:
        return [str(self.request(rid).state) for rid in ids]

    def degree(self, uri: str, project: str = "") -> float:
        return self.store.get_fact(Q, uri, project).degree
