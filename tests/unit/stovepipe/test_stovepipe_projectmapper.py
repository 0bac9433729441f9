"""The ProjectMapper seam: the glob mapper from configuration, and the fake beside it."""

from __future__ import annotations

import pytest

from sq.stovepipe.extension.projectmapper import ProjectMapper
from sq.stovepipe.extension.projectmapper.fake import FakeProjectMapper
from sq.stovepipe.extension.projectmapper.glob import GlobProjectMapper

OWNERS = {"a/x.py": ["a"], "b/y/z.c": ["b"], "shared/lib.h": ["a", "b"]}


@pytest.fixture(params=["glob", "fake"])
def mapper(request: pytest.FixtureRequest) -> ProjectMapper:
    if request.param == "fake":
        return FakeProjectMapper(["a", "b", "c"], OWNERS)
    return GlobProjectMapper({"a": ["a/", "shared/*.h"], "b": ["b", "shared/**"], "c": ["c/**"]})


def test_the_contract(mapper: ProjectMapper) -> None:
    assert mapper.projects == ("a", "b", "c")
    assert mapper.affected([]) == frozenset()
    assert mapper.affected(["a/x.py"]) == {"a"}
    assert mapper.affected(["b/y/z.c", "README"]) == {"b"}
    assert mapper.affected(["shared/lib.h"]) == {"a", "b"}
    assert mapper.affected(["README", "Makefile"]) == frozenset()


@pytest.mark.parametrize(
    ("glob", "owned", "not_owned"),
    [
        ("a/", ["a/x", "a/b/c"], ["ab/x", "b/a/x"]),
        ("a", ["a", "a/x"], ["ab", "x/a"]),
        ("services/*", ["services/x/y", "services/x"], ["services", "other/services/x"]),
        ("**/BUILD", ["BUILD", "a/b/BUILD"], ["a/BUILDS"]),
        ("lib/*.py", ["lib/x.py"], ["lib/x/y.py", "lib/x.pyc"]),
        ("docs/??.md", ["docs/ab.md"], ["docs/abc.md"]),
        ("x[1]", ["x[1]"], ["x1"]),
    ],
)
def test_glob_ownership(glob: str, owned: list[str], not_owned: list[str]) -> None:
    mapper = GlobProjectMapper({"p": [glob]})
    assert all(mapper.affected([p]) == {"p"} for p in owned)
    assert all(mapper.affected([p]) == frozenset() for p in not_owned)
