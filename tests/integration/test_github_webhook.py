"""The GitHub webhook on a running gateway: signature, replay and bad input are refused with
JSON errors; labels and `/sq` comments by allowed people queue and cancel pull requests pinned to
their head; new commits, closing or a draft end a queued request."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from sq.platform.changeuri import GitHubChangeURI
from sq.platform.git.credentials import forget_http_tokens
from sq.platform.git.sandbox import GitSandbox
from sq.service.settings import Settings
from sq.service.settings_github import GitHubConfig
from sq.service.settings_submitqueue import QueueConfig, SubmitQueueSettings
from sq.service.stack import LocalStack
from support.fake_github import FakeGitHub, FakePull

pytestmark = pytest.mark.anyio
TOKEN = "webhook-test-token"
SECRET = "webhook-test-secret"


@dataclass
class Hooked:
    hub: FakeGitHub
    box: GitSandbox
    http: httpx2.AsyncClient
    url: str

    async def post(
        self,
        event: str,
        payload: dict[str, Any],
        *,
        secret: str = SECRET,
        delivery: str | None = None,
    ) -> httpx2.Response:
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        }
        return await self.http.post(self.url, content=body, headers=headers)

    def pull(self, name: str, **fields: Any) -> FakePull:
        self.box.checkout(name, "main")
        self.box.commit(f"{name}: edit", {f"{name}.txt": f"{name}\n"})
        self.box.push(name)
        return self.hub.open_pull("acme", "web", name, **fields)

    def event(self, pull: FakePull, action: str, **extra: Any) -> dict[str, Any]:
        return {
            "action": action,
            "number": pull.number,
            "pull_request": {
                "number": pull.number,
                "head": {"sha": self.hub.head_sha(pull)},
                "base": {"ref": pull.base},
            },
            "repository": {"full_name": "acme/web"},
            **extra,
        }

    def comment(self, pull: FakePull, user: str, body: str) -> dict[str, Any]:
        return {
            "action": "created",
            "issue": {"number": pull.number, "pull_request": {}},
            "comment": {"body": body, "user": {"login": user}},
            "repository": {"full_name": "acme/web"},
        }

    def uri(self, pull: FakePull, sha: str | None = None) -> str:
        host = self.hub.url.removeprefix("http://")
        sha = sha or self.hub.head_sha(pull)
        return str(GitHubChangeURI(host=host, org="acme", repo="web", number=pull.number, sha=sha))

    async def requests(self, pull: FakePull, sha: str | None = None) -> list[dict[str, Any]]:
        answer = await self.http.get(
            self.url.replace("/github/webhook", "/queues/web/changes"),
            params={"uri": self.uri(pull, sha)},
        )
        if answer.status_code == 404:
            return []
        return list(answer.json()["requests"])


@pytest.fixture
async def hooked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Hooked]:
    monkeypatch.setenv("SQ_TEST_GH_TOKEN", TOKEN)
    monkeypatch.setenv("SQ_TEST_GH_SECRET", SECRET)
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n"})
    hub = FakeGitHub(tmp_path / "hub", token=TOKEN, webhook_secret=SECRET).start()
    hub.serve_repo("acme", "web", box.origin)
    queue = QueueConfig(
        name="web",
        provider="github",
        repository=hub.repository_url("acme", "web"),
        github=GitHubConfig(
            api_url=hub.api_url,
            token_env="SQ_TEST_GH_TOKEN",
            webhook_secret_env="SQ_TEST_GH_SECRET",
            allowed_users=["carol"],
        ),
    )
    settings = Settings(
        data_dir=tmp_path / "data", port=0, submitqueue=SubmitQueueSettings(queues=[queue])
    )
    stack = LocalStack(settings, ["gateway"], "127.0.0.1", 0)
    await stack.group.start()
    try:
        async with httpx2.AsyncClient(timeout=30) as http:
            yield Hooked(hub, box, http, f"{stack.address}/api/v1/github/webhook")
    finally:
        await stack.group.stop()
        await stack.close()
        hub.stop()
        forget_http_tokens()


async def test_a_bad_signature_is_refused_and_queues_nothing(hooked: Hooked) -> None:
    pull = hooked.pull("a")
    answer = await hooked.post(
        "pull_request", hooked.event(pull, "labeled", label={"name": "sq-land"}), secret="wrong"
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "bad_signature"
    assert await hooked.requests(pull) == []


async def test_a_replayed_delivery_is_refused(hooked: Hooked) -> None:
    pull = hooked.pull("a")
    event = hooked.event(pull, "labeled", label={"name": "sq-land"})
    first = await hooked.post("pull_request", event, delivery="d-1")
    assert first.status_code == 200
    assert first.json()["result"].startswith("queued as web/")
    again = await hooked.post("pull_request", event, delivery="d-1")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "replayed"
    assert len(await hooked.requests(pull)) == 1


async def test_bad_input_is_a_4xx_with_a_json_error(hooked: Hooked) -> None:
    no_headers = await hooked.http.post(hooked.url, content=b"{}")
    assert no_headers.status_code == 400
    not_json = await hooked.http.post(
        hooked.url,
        content=b"nope",
        headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "x"},
    )
    assert not_json.status_code == 400
    other = await hooked.post("ping", {"repository": {"full_name": "someone/else"}})
    assert other.status_code == 404
    broken = await hooked.post(
        "pull_request", {"action": "labeled", "repository": {"full_name": "acme/web"}}
    )
    assert broken.status_code == 400
    assert "malformed" in broken.json()["error"]["message"]
    pong = await hooked.post("ping", {"repository": {"full_name": "acme/web"}})
    assert pong.json() == {"result": "pong"}


async def test_comments_queue_and_cancel_only_for_people_allowed_to(hooked: Hooked) -> None:
    pull = hooked.pull("a")
    hooked.hub.permissions["bob"] = "write"
    stranger = await hooked.post("issue_comment", hooked.comment(pull, "mallory", "/sq land"))
    assert stranger.json()["result"].startswith("ignored: mallory may not")
    assert await hooked.requests(pull) == []
    queued = await hooked.post("issue_comment", hooked.comment(pull, "bob", "/sq land\nplease"))
    assert queued.json()["result"].startswith("queued as web/")
    (request,) = await hooked.requests(pull)
    assert request["change_uris"] == [hooked.uri(pull)]
    twice = await hooked.post("issue_comment", hooked.comment(pull, "carol", "/sq land"))
    assert twice.json()["result"].startswith("already queued as")
    refused = await hooked.post("issue_comment", hooked.comment(pull, "mallory", "/sq cancel"))
    assert refused.json()["result"].startswith("ignored")
    cancelled = await hooked.post("issue_comment", hooked.comment(pull, "carol", "/sq cancel"))
    assert cancelled.json()["result"] == f"cancelled {request['id']}"
    (after,) = await hooked.requests(pull)
    assert after["status"] == "cancelling"


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        ("synchronize", "new commits"),
        ("closed", "closed"),
        ("converted_to_draft", "draft"),
        ("unlabeled", "label was removed"),
    ],
)
async def test_a_queued_pull_request_that_changes_is_cancelled_with_the_reason(
    hooked: Hooked, action: str, reason: str
) -> None:
    pull = hooked.pull("a")
    queued_at = hooked.hub.head_sha(pull)
    await hooked.post("pull_request", hooked.event(pull, "labeled", label={"name": "sq-land"}))
    extra: dict[str, Any] = {"label": {"name": "sq-land"}} if action == "unlabeled" else {}
    if action == "synchronize":
        hooked.box.checkout("a")
        hooked.box.commit("a: more", {"a2.txt": "more\n"})
        hooked.box.push("a")
        hooked.hub._update_pull_ref(pull)
        extra = {"before": queued_at, "after": hooked.hub.head_sha(pull)}
    answer = await hooked.post("pull_request", hooked.event(pull, action, **extra))
    assert answer.json()["result"].startswith("cancelled web/")
    (request,) = await hooked.requests(pull, queued_at)
    assert request["status"] == "cancelling"
    history = await hooked.http.get(
        hooked.url.replace("/github/webhook", f"/requests/{request['id']}/history")
    )
    cancelling = [e for e in history.json()["events"] if e.get("status") == "cancelling"]
    assert reason in json.dumps(cancelling)


async def test_a_label_for_a_branch_no_queue_lands_on_is_ignored(hooked: Hooked) -> None:
    pull = hooked.pull("a", base="release")
    answer = await hooked.post(
        "pull_request", hooked.event(pull, "labeled", label={"name": "sq-land"})
    )
    assert answer.json()["result"] == "ignored: no queue lands on release"
    other_label = await hooked.post(
        "pull_request", hooked.event(pull, "labeled", label={"name": "bug"})
    )
    assert other_label.json()["result"].startswith("ignored")


async def test_landing_a_pull_requests_web_address_pins_it_to_its_head(hooked: Hooked) -> None:
    pull = hooked.pull("a")
    web = f"https://{hooked.hub.url.removeprefix('http://')}/acme/web/pull/{pull.number}"
    requests_url = hooked.url.replace("/github/webhook", "/requests")
    answer = await hooked.http.post(requests_url, json={"queue": "web", "change_uris": [web]})
    assert answer.status_code == 201, answer.text
    assert answer.json()["change_uris"] == [hooked.uri(pull)]
    missing = web.replace(f"/pull/{pull.number}", "/pull/99")
    refused = await hooked.http.post(requests_url, json={"queue": "web", "change_uris": [missing]})
    assert refused.status_code == 400
    assert "no such pull request" in refused.json()["error"]["message"]


async def test_a_delivery_github_could_not_answer_for_is_503_and_may_be_redelivered(
    hooked: Hooked,
) -> None:
    pull = hooked.pull("a")
    hooked.hub.permissions["bob"] = "admin"
    hooked.hub.faults = [(502, {})]
    comment = hooked.comment(pull, "bob", "/sq land")
    first = await hooked.post("issue_comment", comment, delivery="d-7")
    assert first.status_code == 503
    assert first.json()["error"]["code"] == "unavailable"
    again = await hooked.post("issue_comment", comment, delivery="d-7")
    assert again.status_code == 200
    assert again.json()["result"].startswith("queued as web/")
