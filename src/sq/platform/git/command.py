"""Running the git CLI: argv lists, a scrubbed environment, and a timeout that kills the process."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sq.platform.git.credentials import credential_environment

DEFAULT_TIMEOUT_S = 300.0

# Variables that point git at another repository or index would redirect our commands (they are set,
# for example, inside git hooks); only transport and installation settings pass through.
_PASSTHROUGH = frozenset(
    {
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSH_VARIANT",
        "GIT_PROXY_COMMAND",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        "GIT_EXEC_PATH",
        "GIT_TEMPLATE_DIR",
        "GIT_TRACE",
        "GIT_TRACE_PACKET",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Identity:
    """Who git records as committer (and as author of commits we create)."""

    name: str
    email: str


RUNWAY_IDENTITY = Identity(name="SubmitQueue Runway", email="runway@submitqueue.invalid")


class GitError(Exception):
    """A git command failed; carries the argv, the exit code (None: it never exited), stderr."""

    def __init__(
        self, message: str, *, argv: Sequence[str], returncode: int | None, stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stderr = stderr

    def __str__(self) -> str:
        detail = _last_line(self.stderr)
        command = " ".join(self.argv)
        text = f"{self.message}: `{command}` exited {self.returncode}"
        return f"{text}: {detail}" if detail else text


class GitTimeoutError(GitError, TimeoutError):
    """A git command ran past its timeout and was killed (a TimeoutError, so it classifies as
    transient)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GitOutput:
    argv: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: str

    @property
    def text(self) -> str:
        """stdout decoded; undecodable bytes (paths are bytes to git) survive as surrogates."""
        return self.stdout.decode("utf-8", "surrogateescape")


def git_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment git runs with: no prompts, C locale, no system or user configuration."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith("GIT_") or k in _PASSTHROUGH}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CONFIG_GLOBAL=os.devnull,
        LC_ALL="C",
        LANGUAGE="C",
    )
    env.update(credential_environment())
    return env


async def run_git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    identity: Identity | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    stdin: bytes | None = None,
    env: Mapping[str, str] | None = None,
    ok: Collection[int] = (0,),
    executable: str = "git",
) -> GitOutput:
    """Run `git <args>` and return its output.

    Raises `GitError` when the exit code is not in `ok`, and `GitTimeoutError` after `timeout_s`
    seconds, having killed the whole process group (git's helpers such as ssh or hooks included).
    Cancelling the caller kills the process too. `env` adds to the scrubbed environment; `stdin`
    is fed to the process (otherwise it reads /dev/null).
    """
    argv = [executable]
    if identity is not None:
        argv += ["-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}"]
    argv += list(args)
    full_env = git_environment()
    if env:
        full_env.update(env)
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=cwd,
            env=full_env,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise GitError("cannot start git", argv=argv, returncode=None, stderr=str(exc)) from exc
    try:
        async with asyncio.timeout(timeout_s):
            stdout, stderr_bytes = await proc.communicate(stdin)
    except TimeoutError as exc:
        raise GitTimeoutError(
            f"git timed out after {timeout_s:g}s", argv=argv, returncode=None
        ) from exc
    finally:
        if proc.returncode is None:
            _kill_group(proc.pid)
            await proc.wait()
    stderr = stderr_bytes.decode("utf-8", "replace")
    returncode = proc.returncode
    assert returncode is not None
    if returncode not in ok:
        raise GitError("git failed", argv=argv, returncode=returncode, stderr=stderr)
    return GitOutput(argv=tuple(argv), returncode=returncode, stdout=stdout, stderr=stderr)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return line
    return lines[-1] if lines else ""
