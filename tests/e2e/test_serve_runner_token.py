"""`sq serve` with a remote build runner whose token is missing: one line, exit 2, in both
domains."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SUBMITQUEUE = """
submitqueue:
  queues:
    - name: main
      provider: git
      repository: {origin}
      build: {{runner: buildkite, organization: acme, pipeline: ci, token_env: SQ_TEST_UNSET_BK}}
"""
STOVEPIPE = """
stovepipe:
  queues:
    - name: mono
      repository: {origin}
      build: {{runner: github-actions, owner: acme, repo: web, workflow: ci.yml,
              token_file: {origin}/no-such-token}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            SUBMITQUEUE,
            "error: queue 'main': build runner buildkite: environment variable "
            "SQ_TEST_UNSET_BK is not set",
        ),
        (STOVEPIPE, "error: queue 'mono': build runner github-actions: token file"),
    ],
)
def test_a_missing_runner_token_exits_2_in_one_line(
    config: str, message: str, tmp_path: Path
) -> None:
    path = tmp_path / "sq.yaml"
    path.write_text(config.format(origin=tmp_path))
    env = {k: v for k, v in os.environ.items() if k != "SQ_TEST_UNSET_BK"}
    done = subprocess.run(
        [sys.executable, "-m", "sq", "serve", "--config", str(path), "--port", str(free_port())],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith(message)
