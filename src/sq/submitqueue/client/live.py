"""The full-screen `sq watch` on a terminal: redraws every second, scrolls like `top`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import sys
import termios
import threading
import time
import tty
from collections.abc import Iterator

from rich.console import Console
from rich.live import Live
from rich.segment import Segment
from rich.text import Text

from sq.submitqueue.client.watch import Watch, follow_plain

_KEYS = {
    "k": -1,
    "\x1b[A": -1,
    "j": 1,
    "\x1b[B": 1,
    "\x1b[5~": -10_000,  # page keys are scaled to the screen height below
    "\x1b[6~": 10_000,
    " ": 10_000,
    "g": -(10**9),
    "\x1b[H": -(10**9),
    "G": 10**9,
    "\x1b[F": 10**9,
}


class Scroller:
    """The visible slice of the rendered lines; follows the bottom unless scrolled up."""

    def __init__(self) -> None:
        self.top = 0
        self.follow = True

    def key(self, key: str, total: int, height: int) -> None:
        step = _KEYS.get(key, 0)
        if abs(step) == 10_000:
            step = (height - 1) * (1 if step > 0 else -1)
        self.top = max(0, min(self.top + step, max(0, total - height)))
        self.follow = self.top >= total - height

    def window(self, lines: list[list[Segment]], height: int) -> list[list[Segment]]:
        if self.follow:
            self.top = max(0, len(lines) - height)
        return lines[self.top : self.top + height]


@contextlib.contextmanager
def _cbreak() -> Iterator[int]:
    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    try:
        yield fd
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def _read_keys(fd: int, keys: list[str], stop: threading.Event) -> None:
    while not stop.is_set():
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            keys.append(os.read(fd, 16).decode(errors="ignore"))


async def follow_live(watch: Watch, console: Console, *, interval: float = 2.0) -> None:
    scroller = Scroller()
    keys: list[str] = []
    stop = threading.Event()
    quit_requested = False
    with _cbreak() as fd, Live(console=console, screen=True, auto_refresh=False) as live:
        reader = threading.Thread(target=_read_keys, args=(fd, keys, stop), daemon=True)
        reader.start()
        next_poll = 0.0
        try:
            while not quit_requested:
                if time.monotonic() >= next_poll:
                    await watch.refresh()
                    next_poll = time.monotonic() + interval
                lines = console.render_lines(watch.view(time.time_ns() // 1_000_000), pad=False)
                height = max(1, console.size.height - 1)
                while keys:
                    key = keys.pop(0)
                    if key in ("q", "\x03"):
                        quit_requested = True
                    scroller.key(key, len(lines), height)
                shown = Text("\n").join(
                    Text.assemble(*((s.text, s.style or "") for s in line))
                    for line in scroller.window(lines, height)
                )
                live.update(shown, refresh=True)
                if watch.settled:
                    break
                await asyncio.sleep(0.2)
        finally:
            stop.set()
            reader.join(timeout=1)
    console.print(watch.view(time.time_ns() // 1_000_000))


async def follow(watch: Watch, console: Console, *, live: bool, interval: float) -> dict[str, str]:
    """Follow `watch` until every request settles, full-screen when `live` (a terminal), else a
    block per change; each request's final status."""
    if live:
        await follow_live(watch, console, interval=interval)
    else:
        await follow_plain(watch, console, interval=interval)
    return {sqid: row.trail.status for sqid, row in watch.rows.items()}
