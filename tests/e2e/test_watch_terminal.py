"""The live watch for real in a terminal: `sq demo` (which ends in `sq watch`'s full-screen view
on a TTY) runs inside a tmux pane; the pane is captured while it runs and after it ends."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def tmux_binary() -> str:
    found = shutil.which("tmux")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("tmux must be installed in CI (.ci/run installs it)")
        pytest.skip("tmux is not installed, so the real-terminal watch test is skipped")
    return found


def test_the_watch_runs_full_screen_in_a_terminal_and_ends_with_its_verdict(
    tmp_path: Path,
) -> None:
    tmux = tmux_binary()
    socket = f"sq-test-{uuid.uuid4().hex[:8]}"

    def run(*args: str) -> str:
        done = subprocess.run(
            [tmux, "-L", socket, *args], capture_output=True, text=True, check=True, timeout=30
        )
        return done.stdout

    demo = shlex.join(
        [sys.executable, "-m", "sq", "demo", "--provider", "fake", "--count", "3", "--fail", "1"]
    )
    script = f"cd {shlex.quote(str(tmp_path))} && {demo}; echo EXIT=$?; sleep 600"
    run("new-session", "-d", "-x", "120", "-y", "40", "sh", "-c", script)
    try:
        live_seen = False
        deadline = time.monotonic() + 180
        screen = ""
        while "EXIT=" not in screen:
            assert time.monotonic() < deadline, f"the demo never ended:\n{screen}"
            # While the watch is up the pane is on the alternate screen (full-screen mode).
            if run("display-message", "-p", "#{alternate_on}").strip() == "1":
                live_seen = live_seen or "REQUEST" in run("capture-pane", "-p")
            screen = run("capture-pane", "-p", "-S", "-200")
            time.sleep(0.1)
    finally:
        subprocess.run([tmux, "-L", socket, "kill-server"], capture_output=True, check=False)
    assert live_seen, "the watch never showed its full-screen table"
    assert "EXIT=0" in screen
    assert "2 of 3 requests landed; 1 made to fail. As expected." in screen
    assert "change-2?sq-files=" in screen  # the final view, with short change names
