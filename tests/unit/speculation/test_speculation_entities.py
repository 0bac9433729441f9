import pytest
from speculation_helpers import F, S, path

from sq.submitqueue.entity.batch import (
    ALL_STATES,
    BatchState,
    can_transition_batch,
    is_cancellable,
    is_halted,
    is_terminal,
)
from sq.submitqueue.entity.conflict import Conflict, ConflictType, dependency_ids
from sq.submitqueue.entity.path import make_path
from sq.submitqueue.entity.pathset import PathStatus, can_transition_path

# speculation-spec §1.4
PATH_ID_VECTORS = [
    (
        path("queueA/batch/3", ("queueA/batch/1", S), ("queueA/batch/2", F)),
        "5acc2a06994c012efe4e2a813c35d53ec4443dd02bd9a460315e292d007f5893",
    ),
    (
        path("queueA/batch/3", ("queueA/batch/1", S), ("queueA/batch/2", S)),
        "d6afd665de6f07d0e108a183915cfe94c8c5b726276364f2d191a14c17ece190",
    ),
    (path("queueA/batch/1"), "3715b6d0506b4340e043fd6af66ce7047a939df30322280edb1dd40f172ac06a"),
    (
        path("queueA/batch/2", ("queueA/batch/1", S)),
        "0ee2ad45c60a305e622a1aaf40778e86e0753ed1051da5028d48082c4eb746e8",
    ),
    (
        path("queueA/batch/2", ("queueA/batch/1", F)),
        "d3757d03f7e38adbf14d447b84cb7e37c1a496ecfb147c90ec009c1d8c68ca66",
    ),
    (
        path("q/batch/head", ("q/batch/dep1", S), ("q/batch/dep2", F)),
        "ad7bb92215aaa3ef3d2c4e93f2bd710c4c8713530d3ab0014221127ce3595a18",
    ),
]


@pytest.mark.parametrize(("p", "expected"), PATH_ID_VECTORS)
def test_path_id_matches_the_reference_vectors(p, expected):
    assert p.id == expected


def test_path_id_is_sensitive_to_head_assumption_dependency_and_order():
    base = path("q/h", ("q/a", S), ("q/b", F))
    variants = [
        path("q/x", ("q/a", S), ("q/b", F)),
        path("q/h", ("q/a", F), ("q/b", F)),
        path("q/h", ("q/a", S), ("q/c", F)),
        path("q/h", ("q/b", F), ("q/a", S)),
        path("q/h"),
    ]
    ids = {base.id, *(v.id for v in variants)}
    assert len(ids) == 6
    assert path("q/h", ("q/a", S), ("q/b", F)).id == base.id


def test_base_lists_dependencies_assumed_to_succeed_in_order():
    p = make_path("h", ("a", S), ("b", F), ("c", S))
    assert p.base() == ("a", "c")


def test_batch_state_predicates():
    assert [s for s in ALL_STATES if is_terminal(s)] == ["succeeded", "failed", "cancelled"]
    assert is_halted(BatchState.CANCELLING)
    assert not is_terminal(BatchState.CANCELLING)
    cancellable = [s.value for s in ALL_STATES if is_cancellable(s)]
    assert cancellable == ["created", "speculating", "cancelling"]


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        ("creating", "created", True),
        ("created", "speculating", True),
        ("speculating", "merging", True),
        ("merging", "succeeded", True),
        ("merging", "failed", True),
        ("speculating", "failed", True),
        ("speculating", "cancelling", True),
        ("cancelling", "cancelled", True),
        ("cancelling", "failed", True),
        ("cancelling", "succeeded", False),
        ("merging", "cancelling", False),
        ("succeeded", "failed", False),
        ("created", "merging", False),
        ("speculating", "created", False),
    ],
)
def test_batch_transitions(old, new, allowed):
    assert can_transition_batch(BatchState(old), BatchState(new)) is allowed


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (None, "pending", True),
        (None, "building", False),
        ("pending", "building", True),
        ("building", "passed", True),
        ("building", "cancelling", True),
        ("cancelling", "cancelled", True),
        ("cancelling", "passed", True),
        ("cancelling", "building", False),
        ("passed", "failed", False),
        ("cancelled", "pending", True),
        ("building", "pending", False),
    ],
)
def test_path_transitions(old, new, allowed):
    old_status = None if old is None else PathStatus(old)
    assert can_transition_path(old_status, PathStatus(new)) is allowed


def test_dependency_ids_keep_first_occurrence():
    conflicts = [
        Conflict(batch_id="b2", type=ConflictType.CONSERVATIVE),  # type: ignore[arg-type]
        Conflict(batch_id="b2", type=ConflictType.TARGET_OVERLAP),  # type: ignore[arg-type]
        Conflict(batch_id="b1", type=ConflictType.CONSERVATIVE),  # type: ignore[arg-type]
    ]
    assert dependency_ids(conflicts) == ("b2", "b1")
