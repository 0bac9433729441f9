"""The orchestrator's scrape-time metrics over its own tables: heads in flight and their
dependencies, builds by
outcome, preempted builds apart from those of cancelled changes, builds per landed change."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.submitqueue.core.batching import DeepBatching
from sq.submitqueue.orchestrator.metrics import orchestrator_collector
from sq.submitqueue.orchestrator.storage import schema
from sq.submitqueue.orchestrator.storage import tables as t
from support.databases import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Both backends (PostgreSQL skipped when SQ_TEST_POSTGRES_URL is unset)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'orchestrator.db'}"
        return
    with fresh_postgres_database() as found:
        yield found


def test_builds_heads_and_preemption(url: str) -> None:
    engine = create_engine(url)
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    batches = {
        "q/batch/1": ("succeeded", []),
        "q/batch/2": ("cancelled", ["q/batch/1"]),
        "q/batch/3": ("speculating", ["q/batch/1", "q/batch/2"]),
        "q/batch/4": ("creating", ["q/batch/3"]),  # not in flight yet: its dependencies not counted
    }
    builds = [
        ("b1", "q/batch/1", "succeeded"),
        ("b2", "q/batch/1", "cancelled"),  # preempted: its change landed anyway
        ("b3", "q/batch/2", "cancelled"),  # its change was cancelled
        ("b4", "q/batch/3", "running"),
        ("b5", "q/batch/3", "failed"),
        ("b6", "q/batch/3", "lost"),  # its runner restarted: built again, not preempted
    ]
    with engine.begin() as conn:
        conn.execute(
            sa.insert(t.batch),
            [
                {"queue": "q", "id": bid, "contains": [], "dependencies": deps, "state": state,
                 "version": 1}
                for bid, (state, deps) in batches.items()
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(t.build),
            [
                {"queue": "q", "id": bid, "batch_id": batch, "path_id": "p", "attempt": 1,
                 "status": status}
                for bid, batch, status in builds
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(t.request),
            [
                {"queue": "q", "id": "q/1", "uris": [], "strategy": "", "state": "landed",
                 "version": 1},
                {"queue": "q", "id": "q/2", "uris": [], "strategy": "", "state": "cancelled",
                 "version": 1},
            ],
        )  # fmt: skip
    registry = CollectorRegistry()
    registry.register(orchestrator_collector(engine, lambda: 0))

    def get(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"queue": "q", **labels})

    assert get("sq_heads_in_flight") == 1
    assert get("sq_head_dependencies") == 2
    assert get("sq_builds_funded_total") == 6
    assert get("sq_builds_running") == 1
    assert get("sq_builds_finished_total", outcome="passed") == 1
    assert get("sq_builds_finished_total", outcome="failed") == 1
    assert get("sq_builds_finished_total", outcome="cancelled") == 2
    assert get("sq_builds_finished_total", outcome="lost") == 1
    assert get("sq_builds_preempted_total") == 1
    assert get("sq_builds_per_landed_change") == 6.0
    engine.dispose()


def test_how_deep_a_batching_queue_is(url: str) -> None:
    engine = create_engine(url)
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    with engine.begin() as conn:
        conn.execute(
            sa.insert(t.batch_arrival),
            [
                {"queue": "q", "request_id": f"q/{i}", "at_ms": at}
                for i, at in enumerate((1_000, 50_000, 60_000, 70_000))
            ]
            + [{"queue": "calm", "request_id": "calm/1", "at_ms": 70_000}],
        )
    deep = DeepBatching(build_time_ms=30_000, arrivals=3)
    registry = CollectorRegistry()
    now = {"ms": 75_000}
    rules = {"q": deep, "calm": deep}
    registry.register(orchestrator_collector(engine, lambda: now["ms"], rules))

    def get(name: str, queue: str) -> float | None:
        return registry.get_sample_value(name, {"queue": queue})

    assert (get("sq_batch_arrivals", "q"), get("sq_batching_deep", "q")) == (3, 1)
    assert (get("sq_batch_arrivals", "calm"), get("sq_batching_deep", "calm")) == (1, 0)
    now["ms"] = 85_000  # the arrival at 50 s is out of the window: two left, not deep
    assert (get("sq_batch_arrivals", "q"), get("sq_batching_deep", "q")) == (2, 0)
    without = CollectorRegistry()
    without.register(orchestrator_collector(engine, lambda: 0))
    assert without.get_sample_value("sq_batching_deep", {"queue": "q"}) is None
    engine.dispose()
