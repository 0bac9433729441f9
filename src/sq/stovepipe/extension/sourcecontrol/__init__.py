"""The SourceControl seam (stovepipe-spec §3.1): what Stovepipe asks of a queue's repository.

An instance is bound to one queue (its repository, ref and optional promotion ref). URIs are
opaque to the rest of Stovepipe: only the implementation that minted one interprets it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SourceControlError(Exception):
    """Base of the seam's errors."""


class NotFoundError(SourceControlError, LookupError):
    """The queue's ref, or a URI, is unknown to the repository."""


class InvalidURIError(SourceControlError, ValueError):
    """Text that is neither a URI of this queue nor a commit it could name."""


class UnreachableError(SourceControlError, ConnectionError):
    """The repository cannot be reached right now (retryable)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChangeInfo:
    created_at_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PromotionRef:
    """A configured promotion ref and where it points now (`uri` empty: the ref is unset)."""

    ref: str
    uri: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Promotion:
    """What one `promote` call did: `moved` is False when the ref already was at `new` or
    ahead of it (then `old` is where it stays)."""

    ref: str
    old: str
    new: str
    moved: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Page:
    uris: tuple[str, ...]
    next_cursor: str = ""


class SourceControl(Protocol):
    async def latest(self) -> str:
        """The URI of the newest commit on the queue's ref; NotFoundError when it has none."""

    async def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `ancestor` is reachable from `descendant` (a commit is its own ancestor).

        NotFoundError when either URI is unknown to the repository.
        """

    async def promote(self, uri: str, project: str = "") -> Promotion | None:
        """Move the promotion ref of the queue (`project=""`) or of a project to `uri`;
        idempotent; None (a no-op) when that scope has no promotion ref.

        Never moves the ref to a commit that is an ancestor of where it already is (forward
        only); lands even when `uri` does not descend from it (after a history rewrite).
        NotFoundError when `uri` is no longer on the queue's ref.
        """

    async def promotion(self, project: str = "") -> PromotionRef | None:
        """The promotion ref of the queue or a project and its live value, read from the
        repository now; None when that scope has none configured."""

    async def changed_paths(self, base: str, head: str) -> frozenset[str]:
        """Paths that differ between the trees of `base` and `head` (both sides of a rename);
        `base=""` means every path in `head`. NotFoundError when either URI is unknown."""

    async def history(self, cursor: str = "", limit: int = 0) -> Page:
        """Newest-first commit URIs; `cursor=""` starts at the head; NotFoundError for an unknown
        cursor; `limit <= 0` means the implementation's default."""

    async def change_info(self, uri: str) -> ChangeInfo:
        """When the commit was created (epoch ms, > 0); NotFoundError when unknown."""

    async def revision(self, uri: str) -> str:
        """What a build runner checks out for `uri` (a commit sha for git)."""

    def normalize(self, text: str) -> str:
        """The URI that `text` (a URI of this queue, or a full commit sha) names.

        InvalidURIError when it is neither; never touches the repository.
        """


class SourceControlFactory(Protocol):
    def for_queue(self, queue: str) -> SourceControl:
        """The queue's SourceControl; NotFoundError for a queue that is not configured."""
