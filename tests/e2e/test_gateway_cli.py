"""`sq serve gateway` and the `sq` client as a user runs them; the orchestrator's log entries are
published straight into the server's queue database."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sq.platform.db import create_engine
from sq.platform.messagequeue import MessageQueue
from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.submitqueue.core.messages import RequestLog


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sq", "serve", "gateway", "--port", str(port)],
        cwd=tmp_path,
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
                partition_key=sqid,
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
