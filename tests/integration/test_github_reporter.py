"""The reporter turns request-log entries into statuses, comments and closures on the stand-in,
once per entry however often the log redelivers it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sq.platform import migrations
from sq.platform.changeuri import GitHubChangeURI
from sq.platform.db import create_engine
from sq.platform.git.sandbox import GitSandbox
from sq.platform.github import GitHubClient
from sq.service.github.reporter import GitHubReporter, ReportedQueue
from sq.service.settings_github import GitHubConfig
from sq.submitqueue.core.messages import RequestLog
from sq.submitqueue.gateway.model import Summary
from sq.submitqueue.gateway.storage import RequestLogStore, schema_set
from support.fake_github import FakeGitHub

pytestmark = pytest.mark.anyio
TOKEN = "reporter-token"


@dataclass
class _Message:
    failed_group: str = ""


class _Delivery:
    """What `entry_of` reads of a delivery of the `log` topic."""

    def __init__(self, key: str, log: RequestLog) -> None:
        self.message_id = key
        self.message = _Message()
        self._body = log.model_dump(mode="json")

    def json(self) -> Any:
        return json.loads(json.dumps(self._body))


@dataclass
class World:
    hub: FakeGitHub
    reporter: GitHubReporter
    uri: GitHubChangeURI

    async def log(self, key: str, **fields: Any) -> None:
        entry = RequestLog(request_id="web/1", queue="web", timestamp_ms=len(key), **fields)
        await self.reporter.process(_Delivery(key, entry))  # type: ignore[arg-type]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r.body for r in self.hub.recorded_of(kind)]


@pytest.fixture
async def world(tmp_path: Path) -> Iterator[World]:
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n"})
    box.checkout("a", "main")
    box.commit("a", {"a.txt": "a\n"})
    box.push("a")
    hub = FakeGitHub(tmp_path / "hub", token=TOKEN).start()
    hub.serve_repo("acme", "web", box.origin)
    pull = hub.open_pull("acme", "web", "a")
    host = hub.url.removeprefix("http://")
    uri = GitHubChangeURI(host=host, org="acme", repo="web", number=1, sha=hub.head_sha(pull))
    engine = create_engine(f"sqlite:///{tmp_path / 'gateway.db'}")
    migrations.upgrade(engine, schema_set())
    store = RequestLogStore(engine)
    store.create_receipt(
        Summary(
            queue="web",
            request_id="web/1",
            number=1,
            change_uris=(str(uri),),
            land_strategy="rebase",
            received_at_ms=0,
            status="accepted",
            request_version=0,
            status_timestamp_ms=0,
        )
    )
    client = GitHubClient(hub.api_url, TOKEN)
    queue = ReportedQueue(
        name="web",
        target="refs/heads/main",
        config=GitHubConfig(public_url="http://sq.example"),
        client=client,
    )
    try:
        yield World(hub, GitHubReporter(store, {"web": queue}.get), uri)
    finally:
        await client.close()
        hub.stop()
        engine.dispose()


async def test_a_failure_is_a_status_and_one_comment_with_the_log_tail(world: World) -> None:
    await world.log("k1", type="status", status="started", request_version=1)
    await world.log(
        "k2",
        type="event",
        event="build-failed",
        metadata={"build_id": "web/b1", "log_tail": "step 1\nfound BROKEN\n"},
    )
    for _ in range(2):  # a redelivery
        await world.log(
            "k3", type="status", status="error", request_version=5, last_error="build failed"
        )
    states = [s["state"] for s in world.of("status")]
    assert states == ["pending", "failure", "failure"]
    assert world.of("status")[-1]["target_url"].endswith("build_id=web%2Fb1")
    (comment,) = world.of("comment")
    assert "found BROKEN" in comment["body"]
    assert "build failed" in comment["body"]
    await world.log("k4", type="event", event="building", metadata={"build_id": "web/b2"})
    assert [s["state"] for s in world.of("status")][-1] == "failure"
    assert world.of("close") == []


async def test_a_landing_is_a_success_a_comment_naming_the_commit_and_a_closure(
    world: World,
) -> None:
    landed = "d" * 40
    await world.log(
        "k1", type="event", event="merged", metadata={"commits": f"{'c' * 40},{landed}"}
    )
    assert [s["state"] for s in world.of("status")] == ["success"]
    (comment,) = world.of("comment")
    assert landed in comment["body"]
    assert len(world.of("close")) == 1
    assert world.hub.pulls[("acme", "web", 1)].state == "closed"
