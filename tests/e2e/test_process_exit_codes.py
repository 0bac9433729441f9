"""A service exits 0 when it ends cleanly, 143 after SIGTERM or SIGINT and a drain, 1 on failure."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SERVICE = textwrap.dedent("""
    import asyncio, sys
    from sq.platform.process import serve

    mode = sys.argv[1]

    class Service:
        async def start(self):
            if mode == "bad-start":
                raise RuntimeError("cannot bind")
            print("ready", flush=True)

        async def stop(self):
            print("drained", flush=True)
            if mode == "bad-stop":
                raise RuntimeError("drain failed")

    async def main():
        until = asyncio.sleep(0) if mode == "finish" else None
        return await serve(Service(), drain_seconds=5, until=until)

    sys.exit(asyncio.run(main()))
""")


def start(tmp_path: Path, mode: str) -> subprocess.Popen[str]:
    script = tmp_path / "service.py"
    script.write_text(SERVICE)
    return subprocess.Popen(
        [sys.executable, str(script), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(proc: subprocess.Popen[str]) -> None:
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_drains_and_exits_143(tmp_path: Path, sig: signal.Signals) -> None:
    proc = start(tmp_path, "serve")
    try:
        wait_ready(proc)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 143
        assert "drained" in out
    finally:
        proc.kill()


def test_a_failing_drain_exits_1(tmp_path: Path) -> None:
    proc = start(tmp_path, "bad-stop")
    try:
        wait_ready(proc)
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
        assert proc.returncode == 1
    finally:
        proc.kill()


@pytest.mark.parametrize(("mode", "code"), [("finish", 0), ("bad-start", 1)])
def test_clean_end_and_failed_start(tmp_path: Path, mode: str, code: int) -> None:
    proc = start(tmp_path, mode)
    try:
        proc.communicate(timeout=30)
        assert proc.returncode == code
    finally:
        proc.kill()
