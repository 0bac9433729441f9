"""Projects as directory-ownership path globs, from the queue's configuration.

A glob owns every path it matches and everything under a directory it matches: `a/` and `a` own
`a/x.py` and `a/b/c.txt`; `*` stays within one path segment, `**` spans segments, `?` is one
character. `services/*` therefore owns every service directory and all of its contents.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache


@lru_cache(maxsize=1024)
def compile_glob(glob: str) -> re.Pattern[str]:
    """A pattern matching the paths the glob owns."""
    body = glob.strip().strip("/")
    parts = []
    i = 0
    while i < len(body):
        if body.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif body.startswith("**", i):
            parts.append(".*")
            i += 2
        elif body[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif body[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(body[i]))
            i += 1
    return re.compile("".join(parts) + "(?:/.*)?")


class GlobProjectMapper:
    def __init__(self, globs: Mapping[str, Sequence[str]]) -> None:
        self._globs = {name: tuple(compile_glob(g) for g in gs) for name, gs in globs.items()}

    @property
    def projects(self) -> tuple[str, ...]:
        return tuple(self._globs)

    def affected(self, paths: Iterable[str]) -> frozenset[str]:
        paths = [p.strip("/") for p in paths]
        return frozenset(
            name
            for name, patterns in self._globs.items()
            if any(pattern.fullmatch(p) for pattern in patterns for p in paths)
        )
