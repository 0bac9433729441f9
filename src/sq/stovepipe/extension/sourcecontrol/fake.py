"""A SourceControl over a newest-first list of URIs, for tests and demos (spec §3.1)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sq.platform.clock import Clock, SystemClock
from sq.stovepipe.extension.sourcecontrol import (
    ChangeInfo,
    InvalidURIError,
    NotFoundError,
    Page,
    Promotion,
    PromotionRef,
    SourceControl,
    UnreachableError,
)

SPACING_MS = 60_000
_SHA = re.compile(r"[0-9a-f]{40}")


class FakeSourceControl:
    """`refs` names the promotion ref of the queue (`""`) and of each project that has one;
    `promotions` records every move per scope; `files` is what each commit touches."""

    def __init__(self, history: Iterable[str] = (), clock: Clock | None = None) -> None:
        self.history_uris: list[str] = list(history)
        self.seen: set[str] = set(self.history_uris)
        """Every URI ever on the ref: a commit a rewrite dropped is still known (as in git)."""
        self._born_ms = (clock or SystemClock()).now_ms()
        self.refs: dict[str, str] = {"": "refs/heads/verified"}
        self.promotions: dict[str, list[str]] = {}
        self.files: dict[str, frozenset[str]] = {}
        self.unreachable = False

    @property
    def promoted(self) -> list[str]:
        """The queue's own promotion ref's moves."""
        return self.promotions.setdefault("", [])

    def push(self, *uris: str, files: Iterable[str] = ()) -> None:
        """New commits on the ref, oldest first; each touches `files`."""
        self.history_uris[:0] = reversed(uris)
        self.seen.update(uris)
        for uri in uris:
            self.files[uri] = frozenset(files)

    def rewrite(self, history: Iterable[str]) -> None:
        self.history_uris = list(history)
        self.seen.update(self.history_uris)

    def _check(self) -> None:
        if self.unreachable:
            raise UnreachableError("fake repository is unreachable")

    def _index(self, uri: str) -> int:
        try:
            return self.history_uris.index(uri)
        except ValueError:
            raise NotFoundError(f"unknown uri {uri!r}") from None

    async def latest(self) -> str:
        self._check()
        if not self.history_uris:
            raise NotFoundError("the ref has no commits")
        return self.history_uris[0]

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        self._check()
        for uri in (ancestor, descendant):
            if uri not in self.seen:
                raise NotFoundError(f"unknown uri {uri!r}")
        if ancestor == descendant:
            return True
        if ancestor in self.history_uris and descendant in self.history_uris:
            return self._index(ancestor) > self._index(descendant)
        return False  # a commit a rewrite dropped: what it descends from is not kept here

    async def promote(self, uri: str, project: str = "") -> Promotion | None:
        self._check()
        self._index(uri)
        if project not in self.refs:
            return None
        moves = self.promotions.setdefault(project, [])
        old = moves[-1] if moves else ""
        stays = old == uri or (old in self.history_uris and self._index(old) < self._index(uri))
        if not stays:
            moves.append(uri)
        return Promotion(ref=self.refs[project], old=old, new=uri, moved=not stays)

    async def promotion(self, project: str = "") -> PromotionRef | None:
        self._check()
        if project not in self.refs:
            return None
        moves = self.promotions.get(project) or [""]
        return PromotionRef(ref=self.refs[project], uri=moves[-1])

    async def changed_paths(self, base: str, head: str) -> frozenset[str]:
        self._check()
        end = self._index(head)
        start = len(self.history_uris)
        if base and await self.is_ancestor(base, head):
            start = self._index(base)
        touched = [self.files.get(u, frozenset()) for u in self.history_uris[end:start]]
        return frozenset().union(*touched)

    async def history(self, cursor: str = "", limit: int = 0) -> Page:
        start = self._index(cursor) if cursor else 0
        end = len(self.history_uris) if limit <= 0 else start + limit
        uris = tuple(self.history_uris[start:end])
        nxt = self.history_uris[end] if end < len(self.history_uris) else ""
        return Page(uris=uris, next_cursor=nxt)

    async def change_info(self, uri: str) -> ChangeInfo:
        return ChangeInfo(created_at_ms=self._born_ms - self._index(uri) * SPACING_MS)

    async def revision(self, uri: str) -> str:
        return uri

    def normalize(self, text: str) -> str:
        if not text or any(c.isspace() for c in text):
            raise InvalidURIError(f"not a URI: {text!r}")
        if _SHA.fullmatch(text):
            return next((u for u in self.history_uris if u.endswith(f"/{text}")), text)
        return text


class FakeSourceControlFactory:
    """Queues by name; `default_history` seeds any queue not set up by hand (the demo's wiring)."""

    def __init__(self, clock: Clock | None = None, default_history: Iterable[str] | None = None):
        self.clock = clock
        self.queues: dict[str, FakeSourceControl] = {}
        self.default = None if default_history is None else list(default_history)

    def add(self, queue: str, history: Iterable[str] = ()) -> FakeSourceControl:
        self.queues[queue] = FakeSourceControl(history, self.clock)
        return self.queues[queue]

    def for_queue(self, queue: str) -> SourceControl:
        if queue not in self.queues:
            if self.default is None:
                raise NotFoundError(f"unknown queue {queue!r}")
            self.add(queue, [u.replace("<queue>", queue) for u in self.default])
        return self.queues[queue]
