"""Lock files a killed git left behind in our own repositories, found and cleared.

git takes `<file>.lock` while it writes a ref, the config or an index, and a second git fails with
"File exists" while the lock is there. A git killed while it held one (our process was SIGKILLed;
a timeout or a cancellation killed the command) leaves the lock behind for good, and every later
command that needs it fails: a workspace could stop fetching until someone deleted the file.

Workspaces are private to one process (each has its own data directory), but not every git in
them is ours: a build's command may run git in its worktree, and a git the process's previous
incarnation started runs in a session of its own and may outlive it. So a lock is stale only when
no git command of this process that could hold it is running (one in the same repository that
started before the lock was written), it is `MIN_AGE_S` old (a finishing orphan holds it for
milliseconds), and it was written before this process started (its writer died with the previous
incarnation) or `STALE_AFTER_S` ago (longer than any git of ours may run: one we killed on its
timeout). Until then the command waits for it, up to its own timeout, then runs again. Locks
outside the repository (a local remote's, written by its receive-pack) are never touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path

import structlog

from sq.platform.git.command import DEFAULT_TIMEOUT_S

log = structlog.get_logger("sq.git")

_HELD = re.compile(
    r"Unable to create '(?P<lock>[^']+\.lock)': File exists"
    r"|could not lock config file (?P<config>.+?): File exists",
    re.IGNORECASE,
)
_SLACK_S = 1.0
"""A command that started this soon after the lock was written may still have written it (file
times can be coarse)."""
_POLL_S = 0.05
MIN_AGE_S = 5.0
"""A lock younger than this may still belong to a live git that is not ours (see above)."""
STALE_AFTER_S = DEFAULT_TIMEOUT_S + 60.0
"""A lock this old was written by a git that ran past any timeout of ours."""
STARTED_AT = time.time()
"""When this process started (when the git layer was first imported), as file times count."""


class _Running:
    """The git commands this process runs now: where, and since when (wall clock, as file times)."""

    def __init__(self) -> None:
        self._commands: dict[int, tuple[Path, float]] = {}
        self._tokens = itertools.count()

    @contextlib.contextmanager
    def command(self, cwd: Path) -> Iterator[None]:
        token = next(self._tokens)
        self._commands[token] = (cwd, time.time())
        try:
            yield
        finally:
            del self._commands[token]

    def could_hold(self, root: Path, written_at: float) -> bool:
        """Some command running in repository `root` (or a worktree inside it) started before
        `written_at` and may have written a lock then."""
        for cwd, started in list(self._commands.values()):
            if started <= written_at + _SLACK_S:
                where = cwd.resolve()
                if where == root or root in where.parents:
                    return True
        return False


RUNNING = _Running()


def held_lock(stderr: str, cwd: Path) -> Path | None:
    """The lock file git says it could not take, resolved against the command's `cwd`."""
    found = _HELD.search(stderr)
    if found is None:
        return None
    lock = Path(found["lock"]) if found["lock"] else Path(f"{found['config']}.lock")
    return (cwd / lock).absolute()


async def clear_if_stale(lock: Path, root: Path, patience_s: float) -> bool:
    """Wait until `lock` (inside repository `root`, a resolved path) is released or stale,
    removing it when stale; True when it is gone, False when a command that may hold it still
    ran after `patience_s`."""
    deadline = time.monotonic() + patience_s
    while not _gone_or_cleared(lock, root):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(_POLL_S)
    return True


def _gone_or_cleared(lock: Path, root: Path) -> bool:
    try:
        written_at = lock.stat().st_mtime
    except FileNotFoundError:
        return True
    age = time.time() - written_at
    dead = written_at < STARTED_AT or age >= STALE_AFTER_S
    if age < MIN_AGE_S or not dead or RUNNING.could_hold(root, written_at):
        return False
    try:
        lock.unlink()
    except FileNotFoundError:
        return True
    except OSError:
        return False  # not ours to remove after all: the command's failure stands
    log.warning("removed a git lock its killed writer left behind", lock=str(lock))
    return True
