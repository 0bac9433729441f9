"""Stovepipe's ProjectMapper seam behind one contract: the glob mapper and the fake, each set up
to give the same ownership (`a` owns a/, `b` and `c` share shared/, c also owns c/)."""

from __future__ import annotations

import pytest

from sq.stovepipe.extension.projectmapper import ProjectMapper
from sq.stovepipe.extension.projectmapper.fake import FakeProjectMapper
from sq.stovepipe.extension.projectmapper.glob import GlobProjectMapper

PROJECTS = ("a", "b", "c")
PATHS = ["a/x.py", "a/deep/y.txt", "shared/lib.py", "c/z.py", "README.md"]


def glob_mapper() -> ProjectMapper:
    return GlobProjectMapper({"a": ["a/"], "b": ["shared"], "c": ["c/**", "shared/*"]})


def fake_mapper() -> ProjectMapper:
    owners = {
        "a/x.py": ["a"],
        "a/deep/y.txt": ["a"],
        "shared/lib.py": ["b", "c"],
        "c/z.py": ["c"],
    }
    return FakeProjectMapper(PROJECTS, owners)


@pytest.fixture(params=[glob_mapper, fake_mapper], ids=["glob", "fake"])
def mapper(request: pytest.FixtureRequest) -> ProjectMapper:
    made: ProjectMapper = request.param()
    return made


def test_projects_come_in_configuration_order(mapper: ProjectMapper) -> None:
    assert mapper.projects == PROJECTS


def test_a_path_is_owned_by_every_project_that_claims_it(mapper: ProjectMapper) -> None:
    assert mapper.affected(["a/deep/y.txt"]) == {"a"}
    assert mapper.affected(["shared/lib.py"]) == {"b", "c"}


def test_the_projects_of_several_paths_are_the_union(mapper: ProjectMapper) -> None:
    assert mapper.affected(PATHS) == {"a", "b", "c"}
    assert mapper.affected(["a/x.py", "c/z.py"]) == {"a", "c"}


def test_a_path_nobody_owns_touches_no_project(mapper: ProjectMapper) -> None:
    assert mapper.affected(["README.md"]) == frozenset()
    assert mapper.affected([]) == frozenset()


def test_mapping_is_pure(mapper: ProjectMapper) -> None:
    assert mapper.affected(iter(PATHS)) == mapper.affected(list(PATHS)) == {"a", "b", "c"}
