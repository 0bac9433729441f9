"""Stovepipe's scrape-time metrics over its own tables: last green per branch and project, and
failure-detection time only for incremental validations (stovepipe-spec §2.5, #70, #71)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.stovepipe.storage.metrics import stovepipe_collector
from sq.stovepipe.storage.schema import facts, project_heads, queues, requests, schema
from support.databases import fresh_postgres_database

T0 = 1_700_000_000_000


def request(queue: str, rid: str, seq: int, uri: str, created: int, base: str = "") -> dict:  # type: ignore[type-arg]
    return {
        "queue": queue, "id": rid, "seq": seq, "uri": uri, "state": "succeeded",
        "base_uri": base, "created_at_ms": created, "version": 1,
    }  # fmt: skip


def fact(queue: str, uri: str, degree: float, rid: str, at: int, project: str = "") -> dict:  # type: ignore[type-arg]
    return {
        "queue": queue, "uri": uri, "project": project, "degree": degree,
        "request_id": rid, "created_at_ms": at,
    }  # fmt: skip


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Both backends (PostgreSQL skipped when SQ_TEST_POSTGRES_URL is unset)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'stovepipe.db'}"
        return
    with fresh_postgres_database() as found:
        yield found


def test_last_green_and_detection_time(url: str) -> None:
    engine = create_engine(url)
    migrations.upgrade(engine, schema(), migrations.counter_schema())
    with engine.begin() as conn:
        conn.execute(
            sa.insert(requests),
            [
                request("web", "web/1", 1, "git://r/green", T0),
                request("web", "web/2", 2, "git://r/broken", T0 + 5_000, base="git://r/green"),
                request("web", "web/3", 3, "git://r/full-broken", T0 + 6_000),
                request("old", "old/1", 1, "git://r/undated", 0),
            ],
        )
        conn.execute(
            sa.insert(facts),
            [
                fact("web", "git://r/green", 0.0, "web/1", T0 + 1_000),
                fact("web", "git://r/broken", 1.0, "web/2", T0 + 90_000),
                fact("web", "git://r/full-broken", 1.0, "web/3", T0 + 95_000),
            ],
        )
        conn.execute(
            sa.insert(queues),
            [
                {"name": "web", "last_green_uri": "git://r/green",
                 "last_green_request_id": "web/1", "version": 1},
                {"name": "old", "last_green_uri": "git://r/undated",
                 "last_green_request_id": "old/1", "version": 1},
            ],
        )  # fmt: skip
        conn.execute(
            sa.insert(project_heads),
            [{"queue": "web", "project": "api", "last_green_uri": "git://r/green",
              "last_green_request_id": "web/1", "version": 1}],
        )  # fmt: skip
    registry = CollectorRegistry()
    registry.register(stovepipe_collector(engine, lambda: T0 + 60_000))

    def get(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    for project in ("", "api"):
        labels = {"queue": "web", "project": project}
        assert get("sq_stovepipe_last_green_timestamp_seconds", **labels) == T0 / 1000
        assert get("sq_stovepipe_last_green_age_seconds", **labels) == 60.0
    assert get("sq_stovepipe_last_green_age_seconds", queue="old", project="") is None  # #71
    # One sample, 90 s, for the incremental breakage; the full one has no base (#70).
    assert get("sq_stovepipe_failure_detection_seconds_count", queue="web") == 1
    assert get("sq_stovepipe_failure_detection_seconds_sum", queue="web") == 90.0
    assert get("sq_stovepipe_failure_detection_seconds_bucket", queue="web", le="60.0") == 0
    assert get("sq_stovepipe_failure_detection_seconds_bucket", queue="web", le="120.0") == 1
    assert get("sq_stovepipe_failure_detection_seconds_bucket", queue="web", le="+Inf") == 1
    engine.dispose()
