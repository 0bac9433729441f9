"""Stovepipe's controllers called one delivery at a time (spec §7): SQLite stores seeded by hand,
a delivery and a stage context that record what the controller asked for, and a storage whose
calls can be made to fail or to race."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from sq.platform import errs, migrations
from sq.platform.clock import FakeClock
from sq.platform.counter import Counter
from sq.platform.db import create_engine
from sq.platform.hooks import HOOK_TOPIC
from sq.platform.pipeline import StageContext, TopicRegistry
from sq.stovepipe.deps import Deps, QueueSetup
from sq.stovepipe.entity import (
    Build,
    BuildStatus,
    BuildStrategy,
    Queue,
    Request,
    RequestState,
    request_id,
)
from sq.stovepipe.extension.sourcecontrol.fake import FakeSourceControlFactory
from sq.stovepipe.messages import ANALYZE, BUILD, BUILDSIGNAL, PROCESS, RECORD
from sq.stovepipe.storage import SqlStorage, schema
from support.stovepipe import Q, ScriptedRunner

Fault = BaseException | Callable[[], None]

FAULTY = (
    "get_queue",
    "update_queue",
    "get_request",
    "create_request",
    "update_request",
    "get_request_id_by_uri",
    "create_request_uri",
    "get_build",
    "create_build",
    "update_build",
    "create_fact",
    "get_fact",
)


class FaultyStorage(SqlStorage):
    """`faults[method]` is a list consumed one per call: an exception is raised instead of the
    call; a callable runs first (e.g. a concurrent writer), then the call goes through."""

    faults: dict[str, list[Fault]]
    calls: list[str]

    def inject(self, method: str, *faults: Fault) -> None:
        self.faults.setdefault(method, []).extend(faults)

    def _fault(self, method: str) -> None:
        self.calls.append(method)
        pending = self.faults.get(method)
        if pending:
            fault = pending.pop(0)
            if isinstance(fault, BaseException):
                raise fault
            fault()


def _faulty(method: str) -> Callable[..., Any]:
    def call(self: FaultyStorage, *args: Any, **kwargs: Any) -> Any:
        self._fault(method)
        return getattr(SqlStorage, method)(self, *args, **kwargs)

    return call


for _method in FAULTY:
    setattr(FaultyStorage, _method, _faulty(_method))


class FakeDelivery:
    def __init__(self, payload: Any) -> None:
        self.payload = payload
        self.held: float | None = None

    def json(self) -> Any:
        if isinstance(self.payload, str):
            return json.loads(self.payload)
        return self.payload

    def hold(self, delay_seconds: float) -> None:
        self.held = delay_seconds


class RecordingQueue:
    """Stands in for the message queue behind a stage's context: keeps what was published;
    `fail` names topics whose publish raises. Topic keys map to themselves."""

    def __init__(self) -> None:
        self.published: list[tuple[str, str, str, dict[str, Any]]] = []
        self.fail: set[str] = set()

    async def publish(
        self, topic: str, partition_key: str, message_id: str, payload: Any, metadata: Any = None
    ) -> bool:
        if topic in self.fail:
            raise RuntimeError(f"publish to {topic} failed")
        body = payload.model_dump() if hasattr(payload, "model_dump") else dict(payload)
        self.published.append((topic, partition_key, message_id, body))
        return True

    def on(self, topic: str) -> list[tuple[str, str, dict[str, Any]]]:
        return [(p, m, b) for t, p, m, b in self.published if t == topic]


TOPICS = TopicRegistry({k: k for k in (PROCESS, BUILD, BUILDSIGNAL, RECORD, ANALYZE, HOOK_TOPIC)})


def context(queue: RecordingQueue, group: str = "stovepipe-test") -> StageContext:
    return StageContext(queue=queue, topics=TOPICS, topic_key="t", consumer_group=group)  # type: ignore[arg-type]


def rid(n: int) -> str:
    return request_id(Q, n)


class Units:
    def __init__(self, tmp_path: Path, setup: QueueSetup | None = None) -> None:
        engine = create_engine(f"sqlite:///{tmp_path / 'stovepipe.db'}")
        migrations.upgrade(engine, schema(), migrations.counter_schema())
        self.clock = FakeClock()
        self.store = FaultyStorage(engine)
        self.store.faults, self.store.calls = {}, []
        self.sc_factory = FakeSourceControlFactory(self.clock)
        self.sc = self.sc_factory.add(Q)
        self.runner = ScriptedRunner()
        self.deps = Deps(
            storage=self.store,
            source_control=self.sc_factory,
            runner=self.runner,
            counter=Counter(engine),
            queues={Q: setup or QueueSetup(name=Q, full_command="make")},
            clock=self.clock,
        )
        self.ctx = RecordingQueue()

    async def run(self, controller: type, payload: Any, *, group: str = "g") -> FakeDelivery:
        delivery = FakeDelivery(payload)
        await controller(self.deps, context(self.ctx, group)).process(delivery)
        return delivery

    async def fails(self, controller: type, payload: Any) -> errs.Verdict:
        """Run and expect an error; its verdict under the default classifiers."""
        try:
            await self.run(controller, payload)
        except Exception as exc:
            return errs.verdict_of(exc, errs.DEFAULT_CLASSIFIERS)
        raise AssertionError("the controller acked")

    def queue(self, **fields: Any) -> Queue:
        try:
            row = self.store.get_queue(Q)
        except LookupError:
            row = self.store.create_queue(Queue(name=Q))
        return self.store.update_queue(replace(row, **fields)) if fields else row

    def request(
        self, n: int, state: RequestState = RequestState.ACCEPTED, uri: str = "", **fields: Any
    ) -> Request:
        request = Request(id=rid(n), queue=Q, uri=uri or f"U{n}", state=state, **fields)
        self.store.create_request(request)
        self.store.create_request_uri(Q, request.uri, request.id)
        return request

    def build(
        self, request: Request, status: BuildStatus = BuildStatus.ACCEPTED, **kw: Any
    ) -> Build:
        build = Build(
            id=kw.pop("id", f"b-{request.id}"),
            queue=Q,
            request_id=request.id,
            status=status,
            created_at_ms=self.clock.now_ms(),
            **kw,
        )
        return self.store.create_build(build)

    def get(self, n: int) -> Request:
        return self.store.get_request(Q, rid(n))

    def writes(self) -> list[str]:
        return [c for c in self.store.calls if c.startswith(("create_", "update_"))]


def message(n: int | str, **extra: Any) -> dict[str, Any]:
    return {"id": rid(n) if isinstance(n, int) else n, "queue_name": Q, **extra}


PROCESSING = {"state": RequestState.PROCESSING, "build_strategy": BuildStrategy.FULL}
