"""Pushing ref updates as compare-and-swap operations, reading `git push --porcelain`."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sq.platform.git.command import GitError
from sq.platform.git.repo import GitRepo

ABSENT = ""
"""`RefUpdate.expected` value meaning "the ref must not exist yet"."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefUpdate:
    ref: str
    """Fully qualified destination ref on the remote, e.g. `refs/heads/main`."""
    new: str
    """The commit the ref should point at afterwards."""
    expected: str | None = None
    """Lease: the value the remote ref must have right now (`ABSENT`: must not exist), checked
    atomically by the remote. None means a plain push, accepted only as a fast-forward."""


class PushStatus(enum.StrEnum):
    UPDATED = "updated"
    UP_TO_DATE = "up-to-date"
    MOVED = "moved"
    """Rejected because the remote ref is not what we expected (stale lease, not a fast-forward)."""
    REJECTED = "rejected"
    """Rejected for another reason: a hook, a protected ref, an atomic partner's failure."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RefPushResult:
    ref: str
    status: PushStatus
    summary: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PushResult:
    refs: tuple[RefPushResult, ...]

    @property
    def ok(self) -> bool:
        return all(r.status in (PushStatus.UPDATED, PushStatus.UP_TO_DATE) for r in self.refs)

    @property
    def moved(self) -> bool:
        """Some ref was rejected because the remote moved under us: fetch and try again."""
        return any(r.status is PushStatus.MOVED for r in self.refs)

    def describe(self) -> str:
        """The refs that did not update, with git's reason (all refs when none failed)."""
        failed = [r for r in self.refs if r.status in (PushStatus.MOVED, PushStatus.REJECTED)]
        return "; ".join(f"{r.ref} {r.summary}" for r in failed or self.refs)


_MOVED_REASONS = ("stale info", "non-fast-forward", "fetch first")


async def push(
    repo: GitRepo, updates: Sequence[RefUpdate], *, remote: str = "origin", atomic: bool = True
) -> PushResult:
    """Push `updates` to `remote`; with `atomic`, all of them land or none does.

    A rejected update is a result, not an error: `PushStatus.MOVED` when the remote's value was
    not the expected one (the caller should fetch and retry), `REJECTED` otherwise. Raises GitError
    when the push could not be attempted (unreachable remote, missing objects).
    """
    if not updates:
        return PushResult(refs=())
    args = ["push", "--porcelain"]
    if atomic and len(updates) > 1:
        args.append("--atomic")
    args += [f"--force-with-lease={u.ref}:{u.expected}" for u in updates if u.expected is not None]
    args.append(remote)
    args += [f"{u.new}:{u.ref}" for u in updates]
    out = await repo.run(*args, ok=(0, 1))
    results = parse_porcelain(out.text)
    missing = [u.ref for u in updates if u.ref not in results]
    if missing:
        raise GitError(
            f"push reported nothing for {', '.join(missing)}",
            argv=out.argv,
            returncode=out.returncode,
            stderr=out.stderr,
        )
    return PushResult(refs=tuple(results[u.ref] for u in updates))


def parse_porcelain(text: str) -> dict[str, RefPushResult]:
    """Parse `<flag> TAB <src>:<dst> TAB <summary>` lines keyed by destination ref."""
    results: dict[str, RefPushResult] = {}
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or len(parts[0]) != 1:
            continue
        flag, refs, summary = parts[0], parts[1], parts[2]
        dst = refs.rsplit(":", 1)[-1]
        if flag == "=":
            status = PushStatus.UP_TO_DATE
        elif flag == "!":
            moved = summary.startswith("[rejected]") and any(r in summary for r in _MOVED_REASONS)
            status = PushStatus.MOVED if moved else PushStatus.REJECTED
        else:
            status = PushStatus.UPDATED
        results[dst] = RefPushResult(ref=dst, status=status, summary=summary)
    return results
