"""`sq serve gateway` and the `sq` client as a user runs them; the orchestrator's log entries are
published straight into the server's queue database."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sq.platform.db import create_engine
from sq.platform.git.sandbox import GitSandbox
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.submitqueue.core.messages import RequestLog, log_partition


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gateway_server(workdir: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sq", "serve", "gateway", "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    addr = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://{addr}/readyz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "sq serve gateway never became ready"
        time.sleep(0.1)
    try:
        yield addr
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    with gateway_server(tmp_path) as addr:
        yield addr


def sq(tmp_path: Path, addr: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq", *args, "--addr", addr],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def publish_logs(tmp_path: Path, *entries: tuple[str, str, int, str]) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / '.sq' / 'queue.db'}")
    queue = MessageQueue(SqlQueueStore(engine))
    now = int(time.time() * 1000)
    messages = []
    for i, (sqid, status, version, error) in enumerate(entries):
        payload = RequestLog(
            request_id=sqid,
            queue="demo",
            timestamp_ms=now + i,
            status=status,
            request_version=version,
            last_error=error,
        )
        messages.append(
            OutgoingMessage(
                topic="log",
                partition_key=log_partition("demo", sqid),
                message_id=f"{sqid}/{status}",
                payload=payload.model_dump_json(),
            )
        )
    queue.publish_sync(messages)
    engine.dispose()


@pytest.mark.slow
def test_land_status_cancel_and_watch_against_a_real_server(tmp_path: Path, server: str) -> None:
    landed = sq(tmp_path, server, "land", "--queue", "demo", "fake://example.com/a")
    assert landed.returncode == 0, landed.stderr
    assert landed.stdout.strip().splitlines()[-1] == "demo/1"
    second = sq(tmp_path, server, "land", "-q", "demo", "fake://example.com/b", "--json")
    assert json.loads(second.stdout)["id"] == "demo/2"
    bad = sq(tmp_path, server, "land", "-q", "demo", "git://x/bad")
    assert bad.returncode == 2 and "invalid change URI" in bad.stderr
    assert sq(tmp_path, server, "status", "demo/7").returncode == 1
    assert sq(tmp_path, "127.0.0.1:1", "status", "demo/1").returncode == 3
    cancelled = sq(tmp_path, server, "cancel", "demo/2", "--reason", "changed my mind")
    assert cancelled.stdout.strip() == "demo/2 cancelling"
    publish_logs(
        tmp_path,
        ("demo/1", "started", 1, ""),
        ("demo/1", "landed", 2, ""),
        ("demo/2", "cancelled", 2, ""),
    )
    watched = sq(tmp_path, server, "watch", "demo/1", "demo/2", "--interval", "0.1")
    assert watched.returncode == 1, watched.stderr
    assert "accepted → started → landed" in watched.stdout
    assert "accepted → cancelling → cancelled" in watched.stdout
    assert "1 of 2 request(s) did not land — demo/2=cancelled" in watched.stdout
    listed = json.loads(sq(tmp_path, server, "list", "-q", "demo", "--json").stdout)
    assert [r["id"] for r in listed] == ["demo/2", "demo/1"]
    history = json.loads(sq(tmp_path, server, "history", "demo/2", "--json").stdout)
    assert [e["status"] for e in history["events"]] == ["accepted", "cancelling", "cancelled"]
    assert sq(tmp_path, server, "status", "demo/1").returncode == 0
    assert sq(tmp_path, server, "status", "demo/2").returncode == 1


@pytest.mark.slow
def test_land_by_branch_resolves_each_head_in_stack_order(tmp_path: Path) -> None:
    sandbox = GitSandbox(tmp_path / "sandbox")
    sandbox.seed({"README.md": "seed\n"})
    heads = {}
    for branch, base in (("lower", "main"), ("higher", "lower")):
        sandbox.checkout(branch, base)
        heads[branch] = sandbox.commit(branch, {f"{branch}.txt": f"{branch}\n"})
        sandbox.push(branch)
    repo = sandbox.origin
    (tmp_path / "sq.yaml").write_text(
        f"submitqueue:\n  queues:\n    - {{name: gitq, provider: git, repository: '{repo}'}}\n"
    )
    with gateway_server(tmp_path) as addr:
        landed = sq(tmp_path, addr, "land", "-q", "gitq", "--branch", "lower", "-b", "higher")
        assert landed.returncode == 0, landed.stderr
        sqid = landed.stdout.strip().splitlines()[-1]
        status = json.loads(sq(tmp_path, addr, "status", sqid, "--json").stdout)
        where = str(repo).strip("/").removesuffix(".git")
        assert status["change_uris"] == [
            f"git://localhost/{where}/refs%2Fheads%2F{branch}/{heads[branch]}"
            for branch in ("lower", "higher")
        ]
        bad = sq(tmp_path, addr, "land", "-q", "gitq", "-b", "lower", "-b", "no-such-branch")
        assert bad.returncode == 2
        assert len(bad.stderr.strip().splitlines()) == 1
        assert "cannot resolve branch 'no-such-branch'" in bad.stderr
        fake = sq(tmp_path, addr, "land", "-q", "gitq", "fake://example.com/x")
        assert fake.returncode == 2, fake.stderr
        listed = json.loads(sq(tmp_path, addr, "list", "-q", "gitq", "--json").stdout)
        assert [r["id"] for r in listed] == [sqid]
