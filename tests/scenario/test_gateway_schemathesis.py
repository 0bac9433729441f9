"""schemathesis against the gateway's OpenAPI schema, in-process: no 5xx, responses match the
schema, and every error body is `{"error": {"code", "message"}}`.

Hypothesis drives each operation directly (`as_strategy`), positive and negative, 25 examples
each, on SQLite and on PostgreSQL (which refuses what SQLite stores, such as NUL in text).
Skipped check: positive-data acceptance. A schema-valid body can still be refused with a 400
(spec §2.10: an unconfigured queue, a change URI outside the canonical grammar, a list window
whose start is not before its end); JSON Schema cannot say which queues exist or spell the URI
grammar. Positive cases use the `demo` queue, seeded with requests, so that reads reach the
storage and return real bodies.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from sq.platform.clock import SystemClock
from sq.platform.counter import Counter
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.pipeline import construct
from sq.service.access import Access
from sq.service.gateway import GatewayDeps, PipelinePublisher, queue_info, stages
from sq.service.http import build_app
from sq.submitqueue.core.messages import TOPIC_CANCEL, TOPIC_START
from sq.submitqueue.gateway.api import build_router
from sq.submitqueue.gateway.materializer import Materializer
from sq.submitqueue.gateway.model import LogEntry, Summary
from sq.submitqueue.gateway.service import Gateway
from sq.submitqueue.gateway.storage import RequestLogStore
from support.databases import fresh_postgres_database
from support.gateway import QUEUES, migrated_engine

SEEDED = 3


def seed(store: RequestLogStore, counter: Counter) -> None:
    for _ in range(SEEDED):
        number = counter.next("demo", "request")
        store.create_receipt(
            Summary(
                queue="demo",
                request_id=f"demo/{number}",
                number=number,
                change_uris=(f"fake://example.com/c{number}", "fake://example.com/shared"),
                land_strategy="rebase",
                received_at_ms=1_000 + number,
                status="accepted",
                request_version=0,
                status_timestamp_ms=1_000 + number,
            )
        )
        store.append_log(
            LogEntry(
                queue="demo",
                request_id=f"demo/{number}",
                key="accepted",
                timestamp_ms=1_000 + number,
                status="accepted",
            )
        )


def gateway_app(where: Path | str) -> tuple[FastAPI, Any]:
    engine = migrated_engine(where)
    store = RequestLogStore(engine)
    counter = Counter(engine)
    seed(store, counter)
    queue = MessageQueue(MemoryQueueStore())
    pipeline = construct(
        queue,
        GatewayDeps(materializer=Materializer(store)),
        stages(),
        publish_only=[TOPIC_START, TOPIC_CANCEL],
    )
    gateway = Gateway(
        store=store,
        queues={q.name: queue_info(q) for q in QUEUES},
        publisher=PipelinePublisher(pipeline),
        next_number=lambda q: counter.next(q, "request"),
        clock=SystemClock(),
    )
    return build_app([build_router(gateway)], ready=lambda: True, access=Access()), engine


# (method, path, whether negative data exists: a bare string path parameter cannot be negated)
OPERATIONS = [
    ("POST", "/api/v1/requests", True),
    ("GET", "/api/v1/requests/{queue}/{number}", True),
    ("GET", "/api/v1/requests/{queue}/{number}/history", True),
    ("POST", "/api/v1/requests/{queue}/{number}/cancel", True),
    ("GET", "/api/v1/queues", False),
    ("GET", "/api/v1/queues/{queue}", False),
    ("GET", "/api/v1/queues/{queue}/requests", True),
    ("GET", "/api/v1/queues/{queue}/changes", True),
    ("GET", "/api/v1/queues/{queue}/changes/history", True),
]
CASES = [
    pytest.param(method, path, mode, id=f"{method} {path} {mode.value}")
    for method, path, negatable in OPERATIONS
    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    if negatable or mode.is_positive
]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            where: Path | str = tmp_path_factory.mktemp("schemathesis") / "gateway.db"
        else:
            where = stack.enter_context(fresh_postgres_database())
        app, engine = gateway_app(where)
        stack.callback(engine.dispose)
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


def test_every_operation_of_the_schema_is_exercised(api: Any) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api.get_all_operations()}
    assert found == {(method, path) for method, path, _ in OPERATIONS}


@pytest.mark.parametrize(("method", "path", "mode"), CASES)
def test_the_gateway_api_honours_its_schema(
    api: Any, method: str, path: str, mode: GenerationMode
) -> None:
    fixed = {"queue": "demo"} if mode.is_positive and "{queue}" in path else None
    strategy = api[path][method].as_strategy(mode, path_parameters=fixed)

    @given(case=strategy)
    @settings(
        max_examples=25,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def check(case: Any) -> None:
        response = case.call()
        assert response.status_code < 500, response.text
        case.validate_response(
            response, excluded_checks=[schemathesis.checks.positive_data_acceptance]
        )
        if response.status_code >= 400:
            body = response.json()
            assert set(body) == {"error"}, body
            assert set(body["error"]) == {"code", "message"}, body
            assert all(isinstance(v, str) and v for v in body["error"].values()), body

    check()
