"""Conflict analyzers (speculation-spec §2.3)."""

import pytest
from speculation_helpers import batch

from sq.submitqueue.entity.conflict import ConflictType
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzerError
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.none import NoneConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
    by_directory,
    by_file,
)


@pytest.mark.parametrize(
    ("p", "file_key", "dir_key"),
    [
        ("src/pkg/a.go", "src/pkg/a.go", "src/pkg"),
        ("README.md", "README.md", "."),
        ("./src/pkg/../pkg/a.go", "src/pkg/a.go", "src/pkg"),
        ("a//b/./c.go", "a/b/c.go", "a/b"),
        ("/../x/y.go", "/x/y.go", "/x"),
    ],
)
def test_path_keys(p, file_key, dir_key):
    assert by_file(p) == file_key
    assert by_directory(p) == dir_key


def test_directory_depth_cuts_leading_components():
    assert by_directory("src/pkg/deep/a.go", 1) == "src"
    assert by_directory("src/pkg/deep/a.go", 2) == "src/pkg"
    assert by_directory("README.md", 1) == "."


def analyze(granularity, candidate_files, in_flight, depth=None):
    files = {"cand": candidate_files, **dict(in_flight)}
    analyzer = PathOverlapConflictAnalyzer(lambda b: files[b.id], granularity, depth=depth)
    conflicts = analyzer.analyze(
        batch("cand", "creating"), [batch(i, "created") for i, _ in in_flight]
    )
    assert all(c.type is ConflictType.TARGET_OVERLAP for c in conflicts)
    return [c.batch_id for c in conflicts]


FILE, DIR = Granularity.FILE, Granularity.DIRECTORY


@pytest.mark.parametrize(
    ("granularity", "candidate", "in_flight", "expected"),
    [
        (FILE, ["a.go", "b.go"], [("x", ["b.go", "c.go"])], ["x"]),
        (FILE, ["a.go"], [("x", ["z.go"])], []),
        (FILE, ["a.go"], [("x", ["a.go"]), ("y", ["q.go"]), ("z", ["a.go"])], ["x", "z"]),
        (FILE, [], [("x", ["a.go"])], []),
        (FILE, ["src/pkg/a.go"], [("x", ["src/pkg/b.go"])], []),
        (DIR, ["src/pkg/a.go"], [("x", ["src/pkg/b.go"])], ["x"]),
        (DIR, ["src/pkg/a.go"], [("x", ["src/other/a.go"])], []),
        (DIR, ["src/pkg/a.go"], [("x", ["src/pkg/a.go"])], ["x"]),
        (DIR, ["README.md"], [("x", ["go.mod"]), ("y", ["src/pkg/a.go"])], ["x"]),
    ],
)
def test_pathoverlap_analyze(granularity, candidate, in_flight, expected):
    assert analyze(granularity, candidate, in_flight) == expected


def test_pathoverlap_directory_depth():
    assert analyze(DIR, ["src/pkg/a.go"], [("x", ["src/other/a.go"])], depth=1) == ["x"]


def test_pathoverlap_empty_in_flight_resolves_nothing():
    def explode(b):
        raise AssertionError("resolved")

    assert PathOverlapConflictAnalyzer(explode).analyze(batch("c", "creating"), []) == []


def test_pathoverlap_resolver_error_is_retryable():
    def broken(b):
        raise OSError("store down")

    analyzer = PathOverlapConflictAnalyzer(broken)
    with pytest.raises(ConflictAnalyzerError):
        analyzer.analyze(batch("c", "creating"), [batch("x", "created")])


def test_pathoverlap_rejects_bad_depth():
    with pytest.raises(ValueError):
        PathOverlapConflictAnalyzer(lambda b: [], DIR, depth=0)
    with pytest.raises(ValueError):
        PathOverlapConflictAnalyzer(lambda b: [], FILE, depth=1)


def test_all_conflicts_with_everything_in_input_order():
    in_flight = [batch("q/batch/1", "created"), batch("q/batch/2")]
    conflicts = AllConflictAnalyzer().analyze(batch("q/batch/3", "creating"), in_flight)
    assert [(c.batch_id, c.type) for c in conflicts] == [
        ("q/batch/1", ConflictType.CONSERVATIVE),
        ("q/batch/2", ConflictType.CONSERVATIVE),
    ]
    assert AllConflictAnalyzer().analyze(batch("q/batch/3", "creating"), []) == []


def test_none_never_conflicts():
    assert NoneConflictAnalyzer().analyze(batch("c", "creating"), [batch("x", "created")]) == []
