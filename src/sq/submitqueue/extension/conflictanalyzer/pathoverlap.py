"""Conflict when two batches touch the same file, or the same directory (spec §2.3)."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence

from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.entity.conflict import Conflict, ConflictType
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzerError

FilesOf = Callable[[Batch], Sequence[str]]
"""Every changed path of every change of every request of a batch; may block, may raise."""


class Granularity(enum.StrEnum):
    FILE = "file"
    DIRECTORY = "directory"


def clean_path(path: str) -> str:
    """Lexically normalize a slash-separated path the way Go's `path.Clean` does."""
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def parent_directory(path: str) -> str:
    """The cleaned directory part of `path` (Go's `path.Dir`); a root-level file gives `.`."""
    return clean_path(path[: path.rfind("/") + 1])


def by_file(path: str) -> str:
    return clean_path(path)


def by_directory(path: str, depth: int | None = None) -> str:
    """The parent directory, cut to its first `depth` components when `depth` is given."""
    directory = parent_directory(path)
    if depth is None or directory in (".", "/"):
        return directory
    rooted = directory.startswith("/")
    kept = "/".join(directory.lstrip("/").split("/")[:depth])
    return ("/" + kept) if rooted else kept


class PathOverlapConflictAnalyzer:
    """Conflicts with every in-flight batch whose path keys intersect the candidate's.

    Keys are cleaned file paths, or parent directories (optionally cut to `depth` leading
    components: depth 1 means "same top-level directory"). A candidate that changes no file
    conflicts with nothing. Each conflicting batch is reported once, in input order.
    """

    def __init__(
        self,
        files_of: FilesOf,
        granularity: Granularity = Granularity.FILE,
        *,
        depth: int | None = None,
    ) -> None:
        if depth is not None and depth < 1:
            raise ValueError(f"directory depth must be at least 1, got {depth}")
        if depth is not None and granularity is not Granularity.DIRECTORY:
            raise ValueError("a depth only applies to directory granularity")
        self._files_of = files_of
        self._granularity = granularity
        self._depth = depth

    def key(self, path: str) -> str:
        if self._granularity is Granularity.FILE:
            return by_file(path)
        return by_directory(path, self._depth)

    def _keys(self, batch: Batch) -> set[str]:
        try:
            files = self._files_of(batch)
        except Exception as exc:
            raise ConflictAnalyzerError(f"cannot resolve files of {batch.id}: {exc}") from exc
        return {self.key(f) for f in files}

    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]:
        if not in_flight:
            return []
        mine = self._keys(candidate)
        if not mine:
            return []
        return [
            Conflict(batch_id=b.id, type=ConflictType.TARGET_OVERLAP)
            for b in in_flight
            if not mine.isdisjoint(self._keys(b))
        ]
