"""The ProjectMapper seam (phase 2): which of a queue's projects a set of changed paths touches.

An instance is bound to one queue's project list. Mapping is pure (no I/O): the analyze stage asks
SourceControl for the paths, then asks the mapper who owns them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class ProjectMapper(Protocol):
    @property
    def projects(self) -> tuple[str, ...]:
        """Every project of the queue, in configuration order."""

    def affected(self, paths: Iterable[str]) -> frozenset[str]:
        """The projects owning at least one of `paths` (repository-relative, `/`-separated).

        A path may belong to several projects, or to none (then it touches no project).
        """
