"""`sq serve` on a GitHub stand-in: three pull requests labelled for the queue, one of which fails
its build. Two land as exactly the trees CI built and their pull requests are closed with the
landed commit and a success status; the failing one gets a failure status and a comment with the
log tail; nothing is left on queue-owned refs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

from sq.platform.git.sandbox import GitSandbox
from support.fake_actions import FakeActions
from support.fake_buildkite import FakeBuildkite
from support.fake_ci import CiState, FakeCi
from support.fake_github import FakeGitHub, FakePull, Recorded

TOKEN = "e2e-github-token"
SECRET = "e2e-webhook-secret"
CI_TOKEN = "e2e-ci-token"
LABEL = "sq-land"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


@dataclass
class Served:
    hub: FakeGitHub
    box: GitSandbox
    proc: subprocess.Popen[str]
    base: str
    built: Path
    """Command runner: one line per passing build, the tree it was asked to build."""
    ci: FakeCi | None

    async def wait_for(self, what: str, check: Callable[[], bool], timeout_s: float = 180) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert self.proc.poll() is None, self.proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {self.hub.recorded}"
            await anyio.sleep(0.2)

    def built_trees(self) -> set[str]:
        if self.ci is not None:
            return {r.tree for r in self.ci.runs.values() if r.state is CiState.PASSED}
        return set(self.built.read_text().split())


CHECK = 'if grep -rl --exclude-dir=.git BROKEN .; then echo "found BROKEN"; exit 1; fi'


def _config(
    tmp_path: Path, hub: FakeGitHub, port: int, runner: str, built: Path, ci: FakeCi | None
) -> Path:
    build: dict[str, object] = {"runner": runner, "command": CHECK, "timeout": "60s"}
    if runner == "command":
        build["command"] = f"{CHECK}; git rev-parse 'HEAD^{{tree}}' >> {built}"
    elif isinstance(ci, FakeBuildkite):
        build.update(api_url=ci.url, organization="acme", pipeline="ci", token_env="SQ_TEST_CI")
    elif ci is not None:
        build.update(api_url=ci.url, workflow="ci.yml", token_env="SQ_TEST_CI")
        build["push_token_env"] = "SQ_TEST_GITHUB_TOKEN"
    queue = {
        "name": "web",
        "provider": "github",
        "repository": hub.repository_url("acme", "web"),
        "target": "refs/heads/main",
        "strategy": "rebase",
        "github": {
            "api_url": hub.api_url,
            "token_env": "SQ_TEST_GITHUB_TOKEN",
            "webhook_secret_env": "SQ_TEST_GITHUB_SECRET",
            "label": LABEL,
            "public_url": f"http://127.0.0.1:{port}",
        },
        "build": build,
    }
    path = tmp_path / "sq.yaml"
    path.write_text(json.dumps({"submitqueue": {"queues": [queue]}}))  # JSON is YAML
    return path


def _stand_in(runner: str, origin: Path) -> FakeCi | None:
    if runner == "buildkite":
        return FakeBuildkite(origin, token=CI_TOKEN, default_command="false")
    if runner == "github-actions":
        return FakeActions(origin, token=CI_TOKEN, default_command="false", hidden_lists=1)
    return None


@pytest.fixture
async def served(tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Served]:
    runner: str = request.param
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n", "shared.txt": "base\n"})
    hub = FakeGitHub(tmp_path / "hub", token=TOKEN, webhook_secret=SECRET).start()
    hub.serve_repo("acme", "web", box.origin)
    ci = _stand_in(runner, box.origin)
    if ci is not None:
        await ci.start()
    port = free_port()
    built = tmp_path / "built-trees"
    config = _config(tmp_path, hub, port, runner, built, ci)
    env = {
        **os.environ,
        "SQ_TEST_GITHUB_TOKEN": TOKEN,
        "SQ_TEST_GITHUB_SECRET": SECRET,
        "SQ_TEST_CI": CI_TOKEN,
    }
    # Popen returns at once; the server runs beside the stand-ins served by this event loop.
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-m", "sq", "serve", "--config", str(config), "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    served = Served(hub=hub, box=box, proc=proc, base=base, built=built, ci=ci)
    try:
        await served.wait_for("readiness", lambda: _ready(base), timeout_s=60)
        hub.webhook_url = f"{base}/api/v1/github/webhook"
        yield served
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
        if ci is not None:
            await ci.stop()
        hub.stop()


def _ready(base: str) -> bool:
    try:
        return _get(f"{base}/readyz") == 200
    except OSError:
        return False


def _pull(served: Served, name: str, files: dict[str, str]) -> FakePull:
    served.box.checkout(name, "main")
    served.box.commit(f"{name}: edit {', '.join(files)}", files)
    served.box.push(name)
    return served.hub.open_pull("acme", "web", name)


def _of(records: list[Recorded], pull: FakePull, sha: str | None = None) -> list[Recorded]:
    return [r for r in records if r.target in (str(pull.number), sha)]


@pytest.mark.anyio
@pytest.mark.parametrize("served", ["command", "buildkite", "github-actions"], indirect=True)
async def test_labelled_pull_requests_land_or_are_told_why_not(served: Served) -> None:
    hub = served.hub
    good_a = _pull(served, "feature-a", {"a.txt": "a\n"})
    good_b = _pull(served, "feature-b", {"b.txt": "b\n"})
    broken = _pull(served, "feature-c", {"c.txt": "BROKEN\n"})
    heads = {p.number: hub.head_sha(p) for p in (good_a, good_b, broken)}
    # GitHub's rate limit and an outage answer the first calls: the queue retries them.
    hub.faults = [(429, {"Retry-After": "1"}), (502, {}), (403, {"X-RateLimit-Remaining": "0"})]
    for pull in (good_a, good_b, broken):
        hub.label(pull, LABEL)

    def done() -> bool:
        closed = {r.target for r in hub.recorded_of("close")}
        failed = [
            r
            for r in hub.recorded_of("status")
            if r.target == heads[broken.number] and r.body["state"] == "failure"
        ]
        return {str(good_a.number), str(good_b.number)} <= closed and bool(failed)

    await served.wait_for("two landings and one failure", done)
    await served.wait_for(
        "the failure comment",
        lambda: any(r.target == str(broken.number) for r in hub.recorded_of("comment")),
    )

    main = served.box.git(
        "rev-list", "--first-parent", "refs/heads/main", cwd=served.box.origin
    ).split()
    new_commits = main[:-1]
    assert len(new_commits) == 2, main
    built_trees = served.built_trees()
    for commit in new_commits:
        tree = served.box.git("rev-parse", f"{commit}^{{tree}}", cwd=served.box.origin).strip()
        assert tree in built_trees, f"{commit} landed a tree CI never built"

    for pull in (good_a, good_b):
        statuses = _of(hub.recorded_of("status"), pull, heads[pull.number])
        assert statuses[-1].body["state"] == "success"
        assert statuses[-1].body["context"] == "submitqueue"
        comments = [r.body["body"] for r in _of(hub.recorded_of("comment"), pull)]
        landed_as = [c for c in new_commits if any(c in text for text in comments)]
        assert len(landed_as) == 1, comments
        assert hub.pulls[("acme", "web", pull.number)].state == "closed"

    statuses = _of(hub.recorded_of("status"), broken, heads[broken.number])
    assert statuses[-1].body["state"] == "failure"
    assert statuses[-1].body.get("target_url", "").startswith(served.base)
    (comment,) = [r.body["body"] for r in _of(hub.recorded_of("comment"), broken)]
    assert "found BROKEN" in comment
    assert hub.pulls[("acme", "web", broken.number)].state == "open"

    await served.wait_for("the queue-owned refs to go", lambda: _queue_owned(served) == [])
    assert hub.faults == []
    await served.wait_for("the closed events' answers", lambda: len(hub.webhook_answers) == 5)
    answers = sorted(body for _, code, body in hub.webhook_answers if code == 200)
    assert len(answers) == 5, hub.webhook_answers
    assert sum('"queued as web/' in a for a in answers) == 3
    assert sum("nothing queued" in a for a in answers) == 2  # our own closing cancels nothing


def _queue_owned(served: Served) -> list[str]:
    refs = served.box.git("for-each-ref", "--format=%(refname)", cwd=served.box.origin).split()
    # The remote runners push build trees under refs/heads/sq/builds/; anything the queue owns is
    # there or outside branches and pull requests altogether.
    owned = [r for r in refs if r.startswith("refs/heads/sq/")]
    return owned + [r for r in refs if not r.startswith(("refs/heads/", "refs/pull/"))]


def test_a_github_queue_without_its_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    hub = FakeGitHub(tmp_path / "hub", token=TOKEN).start()
    try:
        config = _config(tmp_path, hub, free_port(), "command", tmp_path / "built", None)
        env = {k: v for k, v in os.environ.items() if not k.startswith("SQ_TEST_GITHUB")}
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "sq",
                "serve",
                "--config",
                str(config),
                "--port",
                str(free_port()),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        hub.stop()
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "SQ_TEST_GITHUB_TOKEN" in lines[0]


@pytest.mark.anyio
@pytest.mark.parametrize("served", ["command"], indirect=True)
async def test_a_pull_request_that_cannot_land_is_refused_with_the_reason(served: Served) -> None:
    hub = served.hub
    draft = _pull(served, "feature-d", {"d.txt": "d\n"})
    draft.draft = True
    moved = _pull(served, "feature-e", {"e.txt": "e\n"})
    queued_at = hub.head_sha(moved)
    hub.label(draft, LABEL)
    await served.wait_for("the draft's label", lambda: len(hub.webhook_answers) == 1)
    # New commits whose webhook never arrives: the queue must not land the old head.
    served.box.checkout("feature-e")
    served.box.commit("feature-e: more", {"e2.txt": "more\n"})
    served.box.push("feature-e")
    payload = hub._pull_event(moved, "labeled", label=LABEL)
    payload["pull_request"]["head"]["sha"] = queued_at
    hub._update_pull_ref(moved)
    hub.send_later("pull_request", payload)

    def failure(sha: str) -> str:
        found = [
            r.body["description"]
            for r in hub.recorded_of("status")
            if r.target == sha and r.body["state"] == "failure"
        ]
        return found[-1] if found else ""

    await served.wait_for(
        "both refusals", lambda: bool(failure(hub.head_sha(draft)) and failure(queued_at))
    )
    assert "is a draft" in failure(hub.head_sha(draft))
    assert "has new commits" in failure(queued_at)
    assert len(served.box.git("rev-list", "refs/heads/main", cwd=served.box.origin).split()) == 1
