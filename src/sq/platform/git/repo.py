"""A local repository and the read/fetch commands the system runs in it."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sq.platform.git import locks
from sq.platform.git.command import (
    DEFAULT_TIMEOUT_S,
    RUNWAY_IDENTITY,
    GitError,
    GitOutput,
    Identity,
    run_git,
)

_SHA = re.compile(r"[0-9a-f]{40}")
_LOCK_RETRIES = 3
"""How many stale lock files one command clears before its failure stands."""
_SCP_LIKE = re.compile(r"^[^/:]+:")


@dataclass(frozen=True, slots=True, kw_only=True)
class CommitInfo:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    """Raw git date (`<epoch seconds> <tz offset>`), reusable as GIT_AUTHOR_DATE."""
    message: str

    @property
    def subject(self) -> str:
        return self.message.split("\n", 1)[0]

    def author_env(self) -> dict[str, str]:
        """Environment that makes git record this commit's author on a new commit."""
        return {
            "GIT_AUTHOR_NAME": self.author_name,
            "GIT_AUTHOR_EMAIL": self.author_email,
            "GIT_AUTHOR_DATE": self.author_date,
        }


class GitRepo:
    """A local git repository (bare or with a working tree) at `path`.

    Read commands are safe to run concurrently. Commands that move refs or change a working tree
    must be serialized by the caller (runway holds one lock per queue workspace).
    """

    def __init__(
        self,
        path: Path,
        *,
        identity: Identity = RUNWAY_IDENTITY,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        executable: str = "git",
    ) -> None:
        self.path = path
        self.identity = identity
        self.timeout_s = timeout_s
        self.executable = executable

    def __repr__(self) -> str:
        return f"GitRepo({str(self.path)!r})"

    def at(self, path: Path) -> GitRepo:
        """The same settings, for another directory (a worktree of this repository)."""
        return GitRepo(
            path, identity=self.identity, timeout_s=self.timeout_s, executable=self.executable
        )

    async def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        ok: Collection[int] = (0,),
        timeout_s: float | None = None,
    ) -> GitOutput:
        """`git <args>` here (see `run_git`). A command stopped by a lock file of this repository
        that its killed writer left behind runs again once the lock is cleared (`locks`)."""
        limit = self.timeout_s if timeout_s is None else timeout_s
        for attempt in range(_LOCK_RETRIES + 1):
            last = attempt == _LOCK_RETRIES
            try:
                with locks.RUNNING.command(self.path):
                    out = await run_git(
                        args,
                        cwd=self.path,
                        identity=self.identity,
                        timeout_s=limit,
                        stdin=stdin,
                        env=env,
                        ok=ok,
                        executable=self.executable,
                    )
            except GitError as exc:
                if last or not await self._released(exc.stderr, limit):
                    raise
                continue
            if out.returncode == 0 or last or not await self._released(out.stderr, limit):
                return out
        raise AssertionError("unreachable")

    async def _released(self, stderr: str, patience_s: float) -> bool:
        """Whether the lock file `stderr` names, inside this repository, is gone by now."""
        lock = locks.held_lock(stderr, self.path)
        if lock is None:
            return False
        common = await run_git(
            ["rev-parse", "--git-common-dir"],
            cwd=self.path,
            ok=(0, 128),
            timeout_s=patience_s,
            executable=self.executable,
        )
        if common.returncode != 0:
            return False
        root = (self.path / common.text.strip()).resolve()
        if root not in lock.resolve().parents:
            return False
        return await locks.clear_if_stale(lock, root, patience_s)

    # --- creating ------------------------------------------------------------------------------

    @classmethod
    async def init_bare(cls, path: Path, *, initial_branch: str = "main") -> GitRepo:
        """Create (or re-initialise, harmlessly) a bare repository at `path`."""
        with locks.RUNNING.command(path):
            await run_git(
                ["init", "--quiet", "--bare", f"--initial-branch={initial_branch}", str(path)]
            )
        return cls(path)

    @classmethod
    async def open_workspace(
        cls,
        path: Path,
        remote_url: str,
        *,
        remote: str = "origin",
        identity: Identity = RUNWAY_IDENTITY,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> GitRepo:
        """A persistent bare clone of `remote_url` at `path`, created on first use.

        Idempotent: an existing workspace keeps its objects and gets its remote URL updated. The
        remote has no fetch refspec, so a fetch updates only the refs it names. Nothing is fetched
        here; call `fetch`. Opening a workspace that is already set up writes nothing: it reads
        its settings (one git command) and rewrites only what differs, so that the many opens of
        a busy queue neither spawn needless processes nor take the config file's lock.
        """
        remote_url = _absolute_remote(remote_url)
        wanted = {f"remote.{remote}.url": remote_url, "gc.autoDetach": "false"}
        if (path / "HEAD").is_file() and (path / "config").is_file():
            repo = cls(path)
        else:
            repo = await cls.init_bare(path)
        repo.identity, repo.timeout_s = identity, timeout_s
        listed = await repo.run("config", "--null", "--get-regexp", r"^(remote\.|gc\.)", ok=(0, 1))
        held = dict(item.split("\n", 1) for item in listed.text.split("\0") if "\n" in item)
        for key, value in wanted.items():
            if held.get(_config_key(key)) != value:
                await repo.run("config", key, value)
        return repo

    # --- reading -------------------------------------------------------------------------------

    async def resolve(self, rev: str) -> str | None:
        """The 40-hex commit `rev` names, or None when it names no commit."""
        _check_rev(rev)
        out = await self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", ok=(0, 1))
        sha = out.text.strip()
        return sha if out.returncode == 0 and _SHA.fullmatch(sha) else None

    async def has_commit(self, sha: str) -> bool:
        _check_rev(sha)
        out = await self.run("cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128))
        return out.returncode == 0

    async def tree_of(self, rev: str) -> str:
        _check_rev(rev)
        return (await self.run("rev-parse", "--verify", f"{rev}^{{tree}}")).text.strip()

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """True when `ancestor` is reachable from `descendant` (a commit is its own ancestor)."""
        _check_rev(ancestor, descendant)
        out = await self.run("merge-base", "--is-ancestor", ancestor, descendant, ok=(0, 1))
        return out.returncode == 0

    async def merge_base(self, a: str, b: str) -> str | None:
        """The best common ancestor, or None for unrelated histories."""
        _check_rev(a, b)
        out = await self.run("merge-base", a, b, ok=(0, 1))
        return out.text.strip() if out.returncode == 0 else None

    async def commits(
        self, head: str, *, exclude: Sequence[str] = (), merges: bool = True
    ) -> list[str]:
        """Commits reachable from `head` but from none of `exclude`, oldest first (parents before
        children). With `merges=False`, merge commits are left out."""
        _check_rev(head, *exclude)
        args = ["rev-list", "--reverse", "--topo-order"]
        if not merges:
            args.append("--no-merges")
        args += [head, *(f"^{rev}" for rev in exclude), "--"]
        return (await self.run(*args)).text.split()

    async def commit_info(self, rev: str) -> CommitInfo:
        _check_rev(rev)
        out = await self.run("show", "-s", "--format=%H%x00%P%x00%an%x00%ae%x00%ad%x00%B", rev)
        sha, parents, name, email, date, message = out.text.split("\0", 5)
        return CommitInfo(
            sha=sha,
            parents=tuple(parents.split()),
            author_name=name,
            author_email=email,
            author_date=date,
            message=message.rstrip("\n") + "\n",
        )

    async def contains_change(self, target: str, head: str) -> bool:
        """True when merging `head` into `target` would change nothing: every edit of `head`
        (since their merge base) is already in `target`, however it got there (cherry-picked,
        squashed or merged). False for unrelated histories and for merges that conflict."""
        _check_rev(target, head)
        if await self.is_ancestor(head, target):
            return True
        out = await self.run("merge-tree", "--write-tree", target, head, ok=(0, 1, 128))
        if out.returncode != 0:
            return False
        return out.text.split("\n", 1)[0].strip() == await self.tree_of(target)

    # --- talking to a remote -------------------------------------------------------------------

    async def ls_remote(self, refs: Sequence[str], *, remote: str = "origin") -> dict[str, str]:
        """The remote's advertised value of each of `refs` that exists; absent refs are left out."""
        if not refs:
            return {}
        out = await self.run("ls-remote", "--refs", remote, *refs, ok=(0, 2))
        wanted = set(refs)
        found: dict[str, str] = {}
        for line in out.text.splitlines():
            sha, _, ref = line.partition("\t")
            if ref in wanted:
                found[ref] = sha
        return found

    async def fetch(self, refspecs: Sequence[str], *, remote: str = "origin") -> None:
        """Fetch exactly `refspecs` (no tags, no remote-tracking side effects)."""
        if refspecs:
            await self.run(
                "fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, *refspecs
            )

    async def fetch_commit(
        self,
        sha: str,
        *,
        ref: str | None = None,
        local_ref: str | None = None,
        remote: str = "origin",
    ) -> bool:
        """Make commit `sha` present locally: already there, via `ref`, or by asking for the sha.

        Returns False when the remote does not have it. With `local_ref`, the commit is also kept
        reachable from that local ref (so garbage collection cannot drop it). Raises GitError when
        the remote cannot be reached.
        """
        if not await self.has_commit(sha):
            if ref is not None:
                # The ref may be gone or moved; the sha itself is asked for next.
                with contextlib.suppress(GitError):
                    await self.fetch([ref], remote=remote)
            if not await self.has_commit(sha):
                args = ("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", remote, sha)
                out = await self.run(*args, ok=(0, 1, 128))
                if out.returncode != 0 and _unreachable(out.stderr):
                    raise GitError(
                        "cannot reach remote",
                        argv=out.argv,
                        returncode=out.returncode,
                        stderr=out.stderr,
                    )
                if not await self.has_commit(sha):
                    return False
        if local_ref is not None:
            await self.run("update-ref", local_ref, sha)
        return True


def _absolute_remote(url: str) -> str:
    """A local path remote is made absolute: git resolves it against the workspace otherwise."""
    if "://" in url or _SCP_LIKE.match(url):
        return url
    return os.path.abspath(url)


def _config_key(key: str) -> str:
    """`key` as git lists it: section and name lowercased, a subsection (`origin`) as written."""
    section, _, rest = key.partition(".")
    middle, _, name = rest.rpartition(".")
    return ".".join(p for p in (section.lower(), middle, name.lower()) if p)


def _unreachable(stderr: str) -> bool:
    text = stderr.lower()
    return any(
        marker in text
        for marker in (
            "could not read from remote",
            "does not appear to be a git repository",
            "unable to access",
            "could not resolve host",
            "connection refused",
            "timed out",
        )
    )


def _check_rev(*revs: str) -> None:
    for rev in revs:
        if not rev or rev.startswith("-"):
            raise ValueError(f"not a revision: {rev!r}")
