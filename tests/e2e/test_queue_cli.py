"""`sq queue pause|resume|drain|show` against `sq serve` as a user runs them: the mode changes,
a draining queue refuses `sq land` in one line, and unknown queues exit 1."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def addr(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sq", "serve", "gateway", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "sq serve gateway never became ready"
        time.sleep(0.1)
    try:
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


def sq(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_pause_drain_resume_and_show(addr: str) -> None:
    paused = sq("queue", "pause", "demo", "--reason", "release freeze", "--addr", addr)
    assert (paused.returncode, paused.stdout) == (0, "demo: paused (release freeze)\n")
    drained = sq("queue", "drain", "demo", "--addr", addr)
    assert (drained.returncode, drained.stdout) == (0, "demo: draining\n")

    refused = sq("land", "--queue", "demo", "fake://example.com/x", "--addr", addr)
    assert refused.returncode == 1
    assert "draining" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1

    assert sq("queue", "resume", "demo", "--addr", addr).stdout == "demo: active\n"
    assert sq("land", "--queue", "demo", "fake://example.com/x", "--addr", addr).returncode == 0
    shown = sq("queue", "show", "demo", "--json", "--addr", addr)
    assert '"mode": "active"' in shown.stdout

    unknown = sq("queue", "pause", "nope", "--addr", addr)
    assert unknown.returncode == 1
    assert "unknown queue" in unknown.stderr
