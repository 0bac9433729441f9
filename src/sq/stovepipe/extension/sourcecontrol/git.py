"""SourceControl over a real git repository: a path or any URL git can fetch from and push to.

A bare workspace per queue keeps every head it has seen under `refs/stovepipe/seen/<sha>`, so a
last-green commit that a force-push dropped from the ref can still be compared (it is simply not
an ancestor of the new head, which makes the next build a full one).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from pathlib import Path

from sq.platform import changeuri
from sq.platform.git import ABSENT, GitError, GitRepo, RefUpdate, push
from sq.platform.git import changed_paths as diff_paths
from sq.stovepipe.extension.sourcecontrol import (
    ChangeInfo,
    InvalidURIError,
    NotFoundError,
    Page,
    Promotion,
    PromotionRef,
    SourceControlError,
    UnreachableError,
)

_SHA = re.compile(r"[0-9a-f]{40}")
_SEEN = "refs/stovepipe/seen/"
_HEAD = "refs/stovepipe/head"
_PUSH_ATTEMPTS = 5
DEFAULT_PAGE = 50


def _qualified(ref: str) -> str:
    return ref if ref.startswith("refs/") else f"refs/heads/{ref}"


class GitSourceControl:
    def __init__(
        self,
        *,
        repository: str,
        ref: str,
        workspace: Path,
        promotion_ref: str | None = None,
        project_refs: Mapping[str, str] | None = None,
    ) -> None:
        self.repository = repository
        self.ref = _qualified(ref)
        self.promotion_ref = None if promotion_ref is None else _qualified(promotion_ref)
        self.project_refs = {p: _qualified(r) for p, r in (project_refs or {}).items()}
        self.workspace = workspace
        self._repo: GitRepo | None = None
        self._lock = asyncio.Lock()

    async def _open(self) -> GitRepo:
        if self._repo is None:
            self.workspace.parent.mkdir(parents=True, exist_ok=True)
            self._repo = await GitRepo.open_workspace(self.workspace, self.repository)
        return self._repo

    def _uri(self, sha: str) -> str:
        return str(changeuri.branch_head_uri(self.repository, self.ref, sha))

    def _sha(self, uri: str) -> str:
        try:
            parsed = changeuri.parse(uri)
        except changeuri.ChangeURIError as exc:
            raise InvalidURIError(str(exc)) from exc
        if not isinstance(parsed, changeuri.GitChangeURI) or self._uri(parsed.sha) != uri:
            raise InvalidURIError(f"{uri!r} is not a commit of {self.repository} {self.ref}")
        return parsed.sha

    async def _remote_head(self, repo: GitRepo, ref: str) -> str | None:
        try:
            return (await repo.ls_remote([ref])).get(ref)
        except GitError as exc:
            raise UnreachableError(f"cannot reach {self.repository}: {exc}") from exc

    async def _fetch_head(self) -> tuple[GitRepo, str]:
        """Fetch the queue's ref; its sha, kept reachable in the workspace."""
        repo = await self._open()
        async with self._lock:
            sha = await self._remote_head(repo, self.ref)
            if sha is None:
                raise NotFoundError(f"{self.repository} has no {self.ref}")
            try:
                if not await repo.has_commit(sha):
                    await repo.fetch([f"+{self.ref}:{_HEAD}"])
                await repo.run("update-ref", f"{_SEEN}{sha}", sha)
            except GitError as exc:
                raise UnreachableError(f"cannot fetch {self.ref}: {exc}") from exc
        return repo, sha

    async def _known(self, repo: GitRepo, uri: str) -> str:
        sha = self._sha(uri)
        if not await repo.has_commit(sha):
            raise NotFoundError(f"unknown commit {sha}")
        return sha

    async def latest(self) -> str:
        _, sha = await self._fetch_head()
        return self._uri(sha)

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        repo = await self._open()
        a, d = await self._known(repo, ancestor), await self._known(repo, descendant)
        return await repo.is_ancestor(a, d)

    def _promotion_ref(self, project: str) -> str | None:
        return self.project_refs.get(project) if project else self.promotion_ref

    async def promotion(self, project: str = "") -> PromotionRef | None:
        ref = self._promotion_ref(project)
        if ref is None:
            return None
        sha = await self._remote_head(await self._open(), ref)
        return PromotionRef(ref=ref, uri="" if sha is None else self._uri(sha))

    async def promote(self, uri: str, project: str = "") -> Promotion | None:
        ref = self._promotion_ref(project)
        if ref is None:
            return None
        repo, head = await self._fetch_head()
        sha = await self._known(repo, uri)
        if not await repo.is_ancestor(sha, head):
            raise NotFoundError(f"{sha} is no longer on {self.ref}")
        for _ in range(_PUSH_ATTEMPTS):
            async with self._lock:
                current = await self._remote_head(repo, ref)
                old = "" if current is None else self._uri(current)
                stays = current == sha
                if current is not None and not stays:
                    stays = await self._already_ahead(repo, ref, sha, current)
                if stays:
                    return Promotion(ref=ref, old=old, new=uri, moved=False)
                expected = ABSENT if current is None else current
                update = RefUpdate(ref=ref, new=sha, expected=expected)
                try:
                    result = await push(repo, [update])
                except GitError as exc:
                    raise UnreachableError(f"cannot push {ref}: {exc}") from exc
            if result.ok:
                return Promotion(ref=ref, old=old, new=uri, moved=True)
            if not result.moved:
                raise SourceControlError(f"push of {ref} rejected: {result.describe()}")
        raise UnreachableError(f"{ref} kept moving; giving up for now")

    async def _already_ahead(self, repo: GitRepo, ref: str, sha: str, current: str) -> bool:
        try:
            if not await repo.fetch_commit(current, ref=ref):
                return False
        except GitError as exc:
            raise UnreachableError(str(exc)) from exc
        return await repo.is_ancestor(sha, current)

    async def history(self, cursor: str = "", limit: int = 0) -> Page:
        repo, head = await self._fetch_head()
        start = await self._known(repo, cursor) if cursor else head
        if cursor and not await repo.is_ancestor(start, head):
            raise NotFoundError(f"cursor {cursor!r} is not on {self.ref}")
        size = limit if limit > 0 else DEFAULT_PAGE
        out = await repo.run("rev-list", "--first-parent", f"--max-count={size + 1}", start, "--")
        shas = out.text.split()
        nxt = self._uri(shas[size]) if len(shas) > size else ""
        return Page(uris=tuple(self._uri(s) for s in shas[:size]), next_cursor=nxt)

    async def change_info(self, uri: str) -> ChangeInfo:
        repo = await self._open()
        sha = await self._known(repo, uri)
        out = await repo.run("show", "-s", "--format=%ct", sha)
        return ChangeInfo(created_at_ms=int(out.text.strip()) * 1000)

    async def changed_paths(self, base: str, head: str) -> frozenset[str]:
        repo = await self._open()
        head_sha = await self._known(repo, head)
        base_sha = await self._known(repo, base) if base else None
        try:
            stat = await diff_paths(repo, base_sha, head_sha)
        except GitError as exc:
            raise SourceControlError(f"cannot diff {base or 'the root'}..{head}: {exc}") from exc
        return frozenset(p for f in stat.files for p in (f.path, f.old_path) if p)

    async def revision(self, uri: str) -> str:
        return self._sha(uri)

    def normalize(self, text: str) -> str:
        text = text.strip()
        if _SHA.fullmatch(text):
            return self._uri(text)
        self._sha(text)
        return text
