"""What the Buildkite and GitHub Actions runners share: a CI elsewhere builds a commit we push.

`trigger` materialises the request's exact tree as a commit (`BuildSources`, as the command runner
does), pushes it to a queue-owned ref (`<ref_prefix><build id>-<digest>`, by default a branch
under `refs/heads/sq/builds/`, since CIs check out branches), then asks the CI to build that
commit. The ref is deleted as soon as the build is seen finished or is cancelled, so nothing stays
on queue-owned refs.

Idempotency and restarts: a build is found on the CI by its unique branch before anything is
created, so a trigger repeated by any instance starts nothing new, and `status`, `cancel` and
`log` work from any instance. Past its `timeout_s` (counted from this runner's trigger, or from
the CI's creation time when another instance triggered it) a build is cancelled on the CI and
reported failed. A cancellation made on the CI side is reported `CANCELLED`, never a failure.
API errors surface as `BuildRunnerBusyError` (retry later) or `BuildRunnerRejectedError`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Protocol

from sq.platform.build import BuildRequest, BuildState, BuildStatus, UnknownBuildError
from sq.platform.build.api_client import BuildRunnerBusyError, BuildRunnerRejectedError
from sq.platform.build.source import BuildSources
from sq.platform.changeuri import ChangeURIError
from sq.platform.clock import Clock, SystemClock
from sq.platform.git import GitError, GitRepo, TreeConflict

OnFinish = Callable[[BuildRequest, BuildStatus], Awaitable[None]]
DEFAULT_REF_PREFIX = "refs/heads/sq/builds/"


@dataclass(frozen=True, slots=True, kw_only=True)
class CiBuild:
    handle: str
    """The CI's own id for the build (Buildkite's build number, an Actions run id)."""
    state: BuildState
    reason: str = ""
    web_url: str = ""
    created_at_ms: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class CiBuildSpec:
    build_id: str
    ref: str
    branch: str
    """`ref` as the CI names it: the branch name under refs/heads/, else the full ref."""
    sha: str
    message: str
    env: Mapping[str, str] = field(default_factory=dict)
    """SQ_BUILD_ID, SQ_BUILD_COMMAND, SQ_BASE, SQ_BASELINE: for the CI's pipeline to use."""


class CiBackend(Protocol):
    """One CI's API. Every method raises BuildRunnerBusyError / BuildRunnerRejectedError."""

    name: str
    shows_builds_at_once: bool
    """False when a created build may be missing from `find` for a while (Actions' dispatch)."""

    async def find(self, branch: str, build_id: str) -> CiBuild | None:
        """The build made for `build_id` on `branch`, or None when there is none (yet)."""

    async def create(self, spec: CiBuildSpec) -> CiBuild | None:
        """Start a build of `spec.sha`; None when the CI accepted it but shows it only later."""

    async def get(self, handle: str) -> CiBuild: ...

    async def cancel(self, handle: str) -> None: ...

    async def log(self, handle: str) -> str:
        """The failing (else the last) job's log; empty when there is none."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Known:
    build_id: str
    ref: str
    status: BuildStatus
    started_ms: int
    timeout_s: float
    request: BuildRequest | None = None
    handle: str | None = None
    ref_removed: bool = False
    reported: bool = False
    start_again_at_ms: int | None = None
    """Created while unseen: start it afresh if the CI still shows nothing by then."""
    note: str = ""


class RemoteBuildRunner:
    """A BuildRunner over a `CiBackend`, pushing trees to `push_url` (a path or any git URL)."""

    def __init__(
        self,
        backend: CiBackend,
        *,
        workspace_dir: Path,
        push_url: str,
        ref_prefix: str | None = None,
        default_timeout_s: float = 1800.0,
        discovery_grace_s: float = 60.0,
        clock: Clock | None = None,
        on_finish: OnFinish | None = None,
        git_env: Mapping[str, str] | None = None,
    ) -> None:
        ref_prefix = ref_prefix or DEFAULT_REF_PREFIX
        if not ref_prefix.startswith("refs/") or not ref_prefix.endswith("/"):
            raise ValueError(f"ref_prefix must look like refs/…/, not {ref_prefix!r}")
        self.backend = backend
        self._sources = BuildSources(workspace_dir / "sources", git_env=git_env)
        self._pusher_dir = workspace_dir / "pusher"
        self._pusher: GitRepo | None = None
        self._push_url = push_url
        self._ref_prefix = ref_prefix
        self._default_timeout_s = default_timeout_s
        self._grace_ms = round(discovery_grace_s * 1000)
        self._clock = clock or SystemClock()
        self._on_finish = on_finish
        self._git_env = dict(git_env or {})
        self._known: dict[str, _Known] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def ref_for(self, build_id: str) -> str:
        safe = re.sub(r"[^A-Za-z0-9_-]+", "-", build_id).strip("-")[:60]
        digest = hashlib.sha256(build_id.encode()).hexdigest()[:12]
        return f"{self._ref_prefix}{safe}-{digest}"

    def _branch(self, ref: str) -> str:
        return ref.removeprefix("refs/heads/")

    # --- the BuildRunner contract ----------------------------------------------------------------

    async def trigger(self, request: BuildRequest) -> BuildStatus:
        async with self._locks.setdefault(request.build_id, asyncio.Lock()):
            known = self._known.get(request.build_id)
            if known is not None:
                return known.status
            ref = self.ref_for(request.build_id)
            found = await self.backend.find(self._branch(ref), request.build_id)
            if found is not None:
                known = self._remember(request.build_id, ref, found, request)
                return await self._observe(known, found)
            if not self.backend.shows_builds_at_once and await self._ref_exists(ref):
                return self._unseen(request, ref).status
            return await self._start(request, ref)

    async def status(self, build_id: str) -> BuildStatus:
        async with self._locks.setdefault(build_id, asyncio.Lock()):
            known = await self._lookup(build_id)
            if known.status.state.finished:
                await self._finished(known)
                return known.status
            if known.handle is None:
                again = known.start_again_at_ms
                if known.request is not None and again is not None and self._now() >= again:
                    del self._known[build_id]
                    return await self._start(known.request, known.ref)
                return await self._observe(known, None)
            return await self._observe(known, await self.backend.get(known.handle))

    async def cancel(self, build_id: str) -> BuildStatus:
        async with self._locks.setdefault(build_id, asyncio.Lock()):
            known = await self._lookup(build_id)
            if not known.status.state.finished:
                ci = await self.backend.get(known.handle) if known.handle else None
                if ci is not None and ci.state.finished:
                    return await self._observe(known, ci)
                if known.handle is not None:
                    await self.backend.cancel(known.handle)
                self._set(known, BuildState.CANCELLED, "cancelled")
            await self._finished(known)
            return known.status

    async def log(self, build_id: str) -> str:
        try:
            known = await self._lookup(build_id)
        except UnknownBuildError:
            return ""
        text = await self.backend.log(known.handle) if known.handle else ""
        return known.note + text

    async def close(self) -> None:
        await self.backend.close()

    # --- internals ---------------------------------------------------------------------------

    async def _start(self, request: BuildRequest, ref: str) -> BuildStatus:
        known = _Known(
            build_id=request.build_id,
            ref=ref,
            status=BuildStatus(build_id=request.build_id, state=BuildState.PENDING),
            started_ms=self._clock.now_ms(),
            timeout_s=request.timeout_s,
            request=request,
            ref_removed=True,
        )
        try:
            repo, tree = await self._sources.prepare(request)
        except (GitError, ChangeURIError) as exc:
            known.note = f"build could not run: {exc}\n"
            self._known[request.build_id] = known
            self._set(known, BuildState.ERROR, f"could not prepare the tree: {exc}")
            await self._finished(known)
            return known.status
        if isinstance(tree, TreeConflict):
            known.note = f"tree does not apply: {tree.reason}\n"
            self._known[request.build_id] = known
            self._set(known, BuildState.FAILED, tree.reason)
            await self._finished(known)
            return known.status
        try:
            sha, base = tree.sha, tree.base
            await self._push(repo, f"+{sha}:{ref}")
        finally:
            await tree.remove()
        known.ref_removed = False
        spec = CiBuildSpec(
            build_id=request.build_id,
            ref=ref,
            branch=self._branch(ref),
            sha=sha,
            message=f"sq build {request.build_id}",
            env=_env_of(request, base),
        )
        try:
            created = await self.backend.create(spec)
        except BuildRunnerRejectedError:
            await self._remove_ref(known)
            raise
        # Any other failure keeps the ref: the CI may have created the build all the same, and
        # the retried trigger finds it by its branch (or pushes again and creates it).
        self._known[request.build_id] = known
        if created is None:
            known.start_again_at_ms = self._now() + self._grace_ms
            return known.status
        known.handle = created.handle
        return await self._observe(known, created)

    async def _lookup(self, build_id: str) -> _Known:
        known = self._known.get(build_id)
        if known is not None and (known.handle is not None or known.status.state.finished):
            return known
        ref = known.ref if known is not None else self.ref_for(build_id)
        found = await self.backend.find(self._branch(ref), build_id)
        if known is not None:
            known.handle = found.handle if found is not None else None
            return known
        if found is None:
            raise UnknownBuildError(build_id)
        return self._remember(build_id, ref, found, None)

    def _unseen(self, request: BuildRequest, ref: str) -> _Known:
        """A build whose ref is pushed but that the CI does not show (yet): an earlier trigger
        may have created it, so wait for it a grace period before starting it afresh."""
        now = self._now()
        known = _Known(
            build_id=request.build_id,
            ref=ref,
            status=BuildStatus(build_id=request.build_id, state=BuildState.PENDING),
            started_ms=now,
            timeout_s=request.timeout_s,
            request=request,
            start_again_at_ms=now + self._grace_ms,
        )
        self._known[request.build_id] = known
        return known

    async def _ref_exists(self, ref: str) -> bool:
        repo = await self._pusher_repo()
        out = await repo.run("ls-remote", self._push_url, ref, env=self._git_env, ok=(0, 2))
        return bool(out.text.strip())

    def _now(self) -> int:
        return self._clock.now_ms()

    def _remember(
        self, build_id: str, ref: str, found: CiBuild, request: BuildRequest | None
    ) -> _Known:
        known = _Known(
            build_id=build_id,
            ref=ref,
            status=BuildStatus(build_id=build_id, state=BuildState.PENDING),
            started_ms=found.created_at_ms or self._clock.now_ms(),
            timeout_s=request.timeout_s if request is not None else self._default_timeout_s,
            request=request,
            handle=found.handle,
        )
        self._known[build_id] = known
        return known

    async def _observe(self, known: _Known, ci: CiBuild | None) -> BuildStatus:
        if ci is not None:
            self._set(known, ci.state, ci.reason)
        if not known.status.state.finished and self._overdue(known):
            if known.handle is not None:
                await self.backend.cancel(known.handle)
            self._set(known, BuildState.FAILED, f"timed out after {known.timeout_s:g}s")
        if known.status.state.finished:
            await self._finished(known)
        return known.status

    def _overdue(self, known: _Known) -> bool:
        return self._clock.now_ms() - known.started_ms >= known.timeout_s * 1000

    def _set(self, known: _Known, state: BuildState, reason: str) -> None:
        if known.status.state.finished:
            return
        now = self._clock.now_ms()
        changes: dict[str, object] = {"state": state, "reason": reason}
        if state is not BuildState.PENDING and not known.status.started_at_ms:
            changes["started_at_ms"] = now
        if state.finished:
            changes["finished_at_ms"] = now
        known.status = dataclasses.replace(known.status, **changes)  # type: ignore[arg-type]

    async def _finished(self, known: _Known) -> None:
        """Once per build: delete its ref, then tell `on_finish`."""
        if not known.ref_removed:
            await self._remove_ref(known)
        if not known.reported:
            known.reported = True
            if self._on_finish is not None and known.request is not None:
                await self._on_finish(known.request, known.status)

    async def _remove_ref(self, known: _Known) -> None:
        await self._push(await self._pusher_repo(), f":{known.ref}", absent_ok=True)
        known.ref_removed = True

    async def _pusher_repo(self) -> GitRepo:
        if self._pusher is None:
            self._pusher = await GitRepo.init_bare(self._pusher_dir)
        return self._pusher

    async def _push(self, repo: GitRepo, refspec: str, *, absent_ok: bool = False) -> None:
        out = await repo.run(
            "push", "--porcelain", "--quiet", self._push_url, refspec, env=self._git_env, ok=(0, 1)
        )
        if out.returncode != 0 and not (absent_ok and "remote ref does not exist" in out.stderr):
            failure = GitError("push failed", argv=out.argv, returncode=1, stderr=out.stderr)
            raise BuildRunnerBusyError(f"pushing {refspec} failed: {failure}") from failure


def _env_of(request: BuildRequest, base: str) -> dict[str, str]:
    env = {"SQ_BUILD_ID": request.build_id, "SQ_BASE": base}
    if request.command:
        env["SQ_BUILD_COMMAND"] = request.command
    if request.baseline:
        env["SQ_BASELINE"] = request.baseline
    return env


def iso_ms(stamp: object) -> int:
    """An API's ISO 8601 timestamp as epoch milliseconds (0 when absent or unreadable)."""
    if not isinstance(stamp, str) or not stamp:
        return 0
    try:
        return int(datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return 0
