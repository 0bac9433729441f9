"""`/metrics` of every service in one process, scraped before and after landing requests: the
counters, gauges and histograms move by what happened, and every name follows the conventions."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import anyio
import httpx2
import pytest

from sq.service.settings import QueueSettings, Settings
from sq.service.settings_stovepipe import StovepipeSettings
from sq.service.settings_submitqueue import (
    BatchingConfig,
    DeepBatchingConfig,
    QueueConfig,
    SubmitQueueSettings,
)
from sq.service.stack import LocalStack
from sq.submitqueue.client.http import GatewayClient
from support.databases import fresh_postgres_database
from support.metric_names import naming_errors, value

pytestmark = pytest.mark.anyio

GRAFANA = Path(__file__).resolve().parents[2] / "doc" / "grafana-dashboard.json"
OK = ("fake://demo/ok-1?sq-files=a", "fake://demo/ok-2?sq-files=b")
BAD = "fake://demo/bad?sq-fake=build-fail"


@pytest.fixture(params=["sqlite", "postgresql"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Settings]:
    """SQLite files, or a fresh PostgreSQL database for the queue and every service (skipped
    when SQ_TEST_POSTGRES_URL is unset): the collectors' SQL runs on both."""
    with ExitStack() as stack:
        urls: dict[str, str | None] = dict.fromkeys(("mq", "gateway", "orchestrator", "stovepipe"))
        if request.param == "postgresql":
            urls = {name: stack.enter_context(fresh_postgres_database()) for name in urls}
        yield Settings(
            data_dir=tmp_path / "data",
            port=0,
            mq=QueueSettings(url=urls["mq"]),
            submitqueue=SubmitQueueSettings(
                gateway_database_url=urls["gateway"],
                orchestrator_database_url=urls["orchestrator"],
                # Batching only while deep (never, for three requests against a budget of 4):
                # each request still builds alone, and the queue shows how deep it is.
                queues=[
                    QueueConfig(
                        name="demo",
                        batching=BatchingConfig(deep=DeepBatchingConfig(build_time=1800)),
                    )
                ],
            ),
            stovepipe=StovepipeSettings(url=urls["stovepipe"]),
        )


async def settled(client: GatewayClient, ids: list[str]) -> list[str]:
    deadline = time.monotonic() + 60
    while True:
        statuses = [(await client.status(i))["status"] for i in ids]
        if all(s in ("landed", "error") for s in statuses):
            return statuses
        assert time.monotonic() < deadline, statuses
        await anyio.sleep(0.05)


async def test_metrics_move_by_what_the_queue_did(settings: Settings) -> None:
    stack = LocalStack(
        settings,
        ["gateway", "orchestrator", "runway", "stovepipe"],
        "127.0.0.1",
        0,
    )
    await stack.group.start()
    try:
        async with (
            httpx2.AsyncClient(base_url=stack.address, follow_redirects=True) as http,
            GatewayClient(stack.address) as client,
        ):
            before = (await http.get("/metrics")).text
            ids = [(await client.land("demo", [uri], None))["id"] for uri in (*OK, BAD)]
            assert await settled(client, ids) == ["landed", "landed", "error"]
            stovepipe = "web/main"  # with no stovepipe queue configured, any name is a demo
            ingested = await http.post("/api/v1/stovepipe/ingest", json={"queue": stovepipe})
            assert ingested.status_code == 200, ingested.text
            deadline = time.monotonic() + 60
            status, query = "/api/v1/stovepipe/status", {"queue": stovepipe}
            while not (await http.get(status, params=query)).json()["last_green_uri"]:
                assert time.monotonic() < deadline
                await anyio.sleep(0.05)
            after = (await http.get("/metrics")).text
    finally:
        await stack.group.stop()
        await stack.close()

    assert naming_errors(after) == []

    def moved(sample: str, **labels: str) -> float:
        return value(after, sample, **labels) - value(before, sample, **labels)

    assert moved("sq_landings_total", queue="demo") == 2
    assert moved("sq_accept_to_landed_seconds_count", queue="demo") == 2
    assert moved("sq_accept_to_landed_seconds_bucket", queue="demo", le="+Inf") == 2
    assert value(after, "sq_accept_to_landed_seconds_sum", queue="demo") >= 0
    assert value(after, "sq_requests", queue="demo", status="landed") == 2
    assert value(after, "sq_requests", queue="demo", status="error") == 1
    funded = value(after, "sq_builds_funded_total", queue="demo")
    assert funded >= 3
    assert value(after, "sq_builds_finished_total", queue="demo", outcome="failed") >= 1
    assert value(after, "sq_builds_finished_total", queue="demo", outcome="passed") >= 2
    assert value(after, "sq_builds_running", queue="demo") == 0
    assert value(after, "sq_heads_in_flight", queue="demo") == 0
    assert value(after, "sq_builds_per_landed_change", queue="demo") == funded / 2
    assert moved("sq_stage_messages_processed_total", stage="speculate") > 0
    assert moved("sq_stage_processing_seconds_count", stage="speculate") >= moved(
        "sq_stage_messages_processed_total", stage="speculate"
    )
    assert moved("sq_stage_messages_processed_total", stage="conclude") >= 3
    assert value(after, "sq_stovepipe_last_green_timestamp_seconds", queue=stovepipe) > 0
    assert value(after, "sq_stovepipe_last_green_age_seconds", queue=stovepipe) >= 0
    assert "sq_topic_backlog_messages" in after
    assert "sq_topic_oldest_message_age_seconds" in after
    assert value(after, "sq_batch_arrivals", queue="demo") == 3
    assert value(after, "sq_batching_deep", queue="demo") == 0

    used = {
        re.sub(r"_(bucket|sum|count)$", "", name)
        for panel in json.loads(GRAFANA.read_text())["panels"]
        for target in panel.get("targets", [])
        for name in re.findall(r"\bsq_[a-z_]+", target["expr"])
    }
    exposed = {line.split()[2] for line in after.splitlines() if line.startswith("# TYPE sq_")}
    exposed |= {n.removesuffix("_total") for n in exposed} | {n + "_total" for n in exposed}
    assert used and used <= exposed, used - exposed
