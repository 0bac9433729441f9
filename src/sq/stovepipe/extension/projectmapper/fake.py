"""A ProjectMapper from an explicit table of paths, for tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


class FakeProjectMapper:
    """`owners` maps a path to the projects owning it; other paths touch no project."""

    def __init__(self, projects: Iterable[str], owners: Mapping[str, Iterable[str]]) -> None:
        self._projects = tuple(projects)
        self.owners = {path: frozenset(names) for path, names in owners.items()}
        self.asked: list[frozenset[str]] = []

    @property
    def projects(self) -> tuple[str, ...]:
        return self._projects

    def affected(self, paths: Iterable[str]) -> frozenset[str]:
        asked = frozenset(paths)
        self.asked.append(asked)
        return frozenset().union(*(self.owners.get(p, frozenset()) for p in asked))
