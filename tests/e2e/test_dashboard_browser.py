"""The web dashboard in a real browser (Playwright driving Debian's Chromium) against `sq serve`
as a user starts it, on a git queue whose builds wait for a file the test removes: a request
appears, builds and lands live; pause and resume from the page; a failure's log tail; Stovepipe's
greenness; the page asks for a token and honours its scope. Screenshots go to
`test-artifacts/dashboard/` (gitignored)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sq.platform.changeuri import branch_head_uri
from sq.platform.git.sandbox import GitSandbox

CHROMIUM = next(
    (p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and os.path.exists(p)), None
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium here: `apt-get install chromium` (.ci/run does)"
)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard"
ADMIN, READER = "admin-token-for-the-test", "read-token-for-the-test"
WAIT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    base: str
    box: GitSandbox
    hold: Path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            self.base + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def branch(self, name: str, files: dict[str, str]) -> str:
        self.box.checkout(name, "main")
        sha = self.box.commit(f"{name}: edit", files)
        self.box.push(name)
        return str(branch_head_uri(str(self.box.origin), f"refs/heads/{name}", sha))

    def land(self, uri: str) -> str:
        body = {"queue": "main", "change_uris": [uri]}
        return str(self.call("POST", "/api/v1/requests", body)["id"])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n"})
    hold = tmp_path / "hold-builds"
    check = 'if grep -rl --exclude-dir=.git BROKEN .; then echo "found BROKEN"; exit 1; fi'
    command = f"while [ -e {hold} ]; do sleep 0.05; done; {check}"
    (tmp_path / "sq.yaml").write_text(
        "submitqueue:\n  queues:\n"
        f"    - name: main\n      provider: git\n      repository: {box.origin}\n"
        f"      build: {{runner: command, command: {json.dumps(command)}, timeout: 60}}\n"
    )
    port = free_port()
    env = {**os.environ, "SQ_ADMIN_TOKENS": ADMIN, "SQ_READ_TOKENS": READER}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sq", "serve", "--config", "sq.yaml", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (OSError, urllib.error.HTTPError):
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "sq serve never became ready"
            time.sleep(0.1)
        yield Server(base, box, hold)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture
def page(server: Server) -> Iterator[Any]:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=WAIT_MS)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            tab = browser.new_page(viewport={"width": 1400, "height": 1000})
            tab.set_default_timeout(WAIT_MS)
            tab.goto(f"{server.base}/ui/?poll_ms=250&stovepipe=web/main")
            yield tab
        finally:
            browser.close()


def use_token(page: Any, token: str) -> None:
    page.fill("#token", token)
    page.click("#token-form button")


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_the_page_follows_a_request_from_queued_to_landed_live(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    expect(page.locator("#problem")).to_contain_text("token")  # the API needs one
    use_token(page, READER)
    queue = page.locator('[data-queue="main"]')
    expect(queue.locator('[data-field="mode"]')).to_have_text("active")

    server.hold.write_text("held")
    request_id = server.land(server.branch("feature-a", {"a.txt": "a\n"}))
    row = queue.locator(f'tr[data-request="{request_id}"]')
    expect(row.locator("[data-path]")).to_contain_text("building")  # its build runs, live
    shot(page, "1-building")
    server.hold.unlink()
    expect(row.locator('[data-field="status"]')).to_have_text("landed")
    shot(page, "2-landed")


def test_pause_and_resume_from_the_page_need_the_admin_scope(server: Server, page: Any) -> None:
    from playwright.sync_api import expect

    use_token(page, READER)
    queue = page.locator('[data-queue="main"]')
    queue.locator('[data-action="pause"]').click()
    expect(page.locator("#problem")).to_contain_text("pause main")  # a read token may not
    expect(queue.locator('[data-field="mode"]')).to_have_text("active")

    use_token(page, ADMIN)
    queue.locator('[data-action="pause"]').click()
    expect(queue.locator('[data-field="mode"]')).to_have_text("paused")
    request_id = server.land(server.branch("feature-b", {"b.txt": "b\n"}))
    row = queue.locator(f'tr[data-request="{request_id}"]')
    expect(row).to_be_visible()
    assert server.call("GET", "/api/v1/queues/main/control")["mode"] == "paused"
    shot(page, "3-paused")
    queue.locator('[data-action="resume"]').click()
    expect(queue.locator('[data-field="mode"]')).to_have_text("active")
    expect(row.locator('[data-field="status"]')).to_have_text("landed")
    shot(page, "4-resumed")


def test_a_failure_shows_its_log_tail_and_stovepipe_its_greenness(
    server: Server, page: Any
) -> None:
    from playwright.sync_api import expect

    use_token(page, READER)
    request_id = server.land(server.branch("broken", {"oops.txt": "BROKEN\n"}))
    row = page.locator(f'[data-queue="main"] tr[data-request="{request_id}"]')
    expect(row.locator('[data-field="log-tail"]')).to_contain_text("found BROKEN")

    server.call("POST", "/api/v1/stovepipe/ingest", {"queue": "web/main"})
    stovepipe = page.locator('[data-stovepipe-queue="web/main"]')
    expect(stovepipe.locator('[data-field="greenness"]').first).to_have_text("green")
    expect(stovepipe.locator('[data-field="last-green"]')).not_to_have_text("none yet")
    shot(page, "5-failure-and-greenness")
