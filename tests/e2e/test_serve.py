"""`sq serve` as a user starts it: health, readiness, JSON errors, metrics, SIGTERM → 143."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_answers_and_drains_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sq", "serve", "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = get(f"{base}/readyz")
                if status == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "sq serve never became ready"
            time.sleep(0.1)
        assert get(f"{base}/healthz") == (200, '{"status":"ok"}')
        status, body = get(f"{base}/api/v1/nothing-here")
        assert status == 404
        assert json.loads(body)["error"]["code"] == "not_found"
        status, body = get(f"{base}/metrics")
        assert status == 200
        assert "python_info" in body
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 143
    finally:
        proc.kill()


def test_a_configuration_that_cannot_be_wired_exits_2_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "sq.yaml"
    config.write_text(
        "submitqueue:\n  hooks:\n    sinks:\n"
        '      - {type: webhook, url: "http://127.0.0.1:9/x", secret_env: SQ_TEST_UNSET_SECRET}\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "sq", "serve", "--config", str(config), "--port", str(free_port())],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: hook sink webhook[0]: environment variable SQ_TEST_UNSET_SECRET is not set"
    ]


def test_a_public_address_without_tokens_is_refused_before_anything_binds(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKENS")}
    done = subprocess.run(
        [sys.executable, "-m", "sq", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: refusing to serve on 0.0.0.0")
    assert "--insecure" in line
    assert not (tmp_path / ".sq").exists()
