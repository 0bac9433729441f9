"""The batching rules shared by the batch stage and the simulator (core/batching.py)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from sq.submitqueue.core.batching import (
    BatchPolicy,
    DeepBatching,
    SplitRule,
    Waiting,
    form,
    split,
    with_conflicts,
)
from sq.submitqueue.entity.batch import Batch, BatchID, Priority, RequestID
from sq.submitqueue.entity.conflict import Conflict, ConflictType
from sq.submitqueue.extension.conflictanalyzer.all import AllConflictAnalyzer


def _waiting(*probabilities: float, since: int = 0) -> list[Waiting]:
    return [
        Waiting(request=RequestID(f"r{i}"), since_ms=since + i, probability=p)
        for i, p in enumerate(probabilities)
    ]


def _ids(*names: str) -> tuple[RequestID, ...]:
    return tuple(RequestID(n) for n in names)


def test_without_batching_every_request_is_its_own_batch_at_once() -> None:
    formed = form(_waiting(0.9, 0.9, 0.9), BatchPolicy(), now_ms=0)
    assert formed.closed == (_ids("r0"), _ids("r1"), _ids("r2"))
    assert formed.waiting == ()
    assert formed.wake_at_ms is None


def test_a_batch_closes_when_full_and_the_rest_waits_for_more() -> None:
    policy = BatchPolicy(max_size=3, max_wait_ms=1_000, min_pass_probability=0.5)
    formed = form(_waiting(0.95, 0.95, 0.95, 0.95), policy, now_ms=10)
    assert formed.closed == (_ids("r0", "r1", "r2"),)
    assert [w.request for w in formed.waiting] == list(_ids("r3"))
    assert formed.wake_at_ms == 3 + 1_000


def test_the_oldest_waiting_long_enough_closes_a_partial_batch() -> None:
    policy = BatchPolicy(max_size=4, max_wait_ms=1_000, min_pass_probability=0.5)
    assert form(_waiting(0.95, 0.95), policy, now_ms=999).closed == ()
    assert form(_waiting(0.95, 0.95), policy, now_ms=1_000).closed == (_ids("r0", "r1"),)


def test_the_probability_floor_makes_batching_back_off() -> None:
    policy = BatchPolicy(max_size=4, max_wait_ms=60_000, min_pass_probability=0.7)
    # 0.8 x 0.8 = 0.64 < 0.7: at a 20 % failure rate no two requests share a batch, and none
    # waits for a partner: even one as likely as itself could not join.
    formed = form(_waiting(0.8, 0.8, 0.8), policy, now_ms=0)
    assert formed.closed == (_ids("r0"), _ids("r1"), _ids("r2"))
    assert formed.waiting == ()
    assert formed.wake_at_ms is None
    # A request already below the floor can never be joined: it does not wait.
    assert form(_waiting(0.6), policy, now_ms=0).closed == (_ids("r0"),)
    # At a low failure rate a lone request waits for company.
    assert form(_waiting(0.95), policy, now_ms=0).closed == ()


def test_the_batch_dependencies_cap_decides_who_may_share() -> None:
    policy = BatchPolicy(
        max_size=4, max_wait_ms=60_000, min_pass_probability=0.5, max_dependencies=2
    )
    deps: list[set[str]] = [{"a"}, {"b"}, {"c"}, set()]
    waiting = [
        dataclasses.replace(w, dependencies=frozenset(d))
        for w, d in zip(_waiting(0.95, 0.95, 0.95, 0.95), deps, strict=True)
    ]
    # r0 and r1 together depend on {a, b}; r2 would make it three: the batch is full.
    formed = form(waiting, policy, now_ms=0)
    assert formed.closed == (_ids("r0", "r1"),)
    assert [w.request for w in formed.waiting] == list(_ids("r2", "r3"))
    # A request over the cap on its own can be joined by no one: it goes alone at once.
    alone = [dataclasses.replace(waiting[0], dependencies=frozenset({"a", "b", "c"}))]
    assert form(alone, policy, now_ms=0).closed == (_ids("r0"),)


def test_conflicting_requests_may_be_kept_apart() -> None:
    policy = BatchPolicy(
        max_size=4, max_wait_ms=60_000, min_pass_probability=0.5, separate_conflicting=True
    )
    waiting = _waiting(0.95, 0.95, 0.95)
    waiting[2] = dataclasses.replace(waiting[2], conflicts=frozenset({RequestID("r1")}))
    formed = form(waiting, policy, now_ms=0)
    assert formed.closed == (_ids("r0", "r1"),)
    assert [w.request for w in formed.waiting] == list(_ids("r2"))
    together = dataclasses.replace(policy, separate_conflicting=False)
    assert form(waiting, together, now_ms=0).closed == ()


def test_lanes_never_share_a_batch() -> None:
    policy = BatchPolicy(max_size=4, max_wait_ms=0, min_pass_probability=0.5)
    waiting = _waiting(0.95, 0.95, 0.95)
    high = Priority.HIGH
    waiting[1] = Waiting(request=RequestID("r1"), since_ms=1, probability=0.95, priority=high)
    assert form(waiting, policy, now_ms=0).closed == (_ids("r0", "r2"), _ids("r1"))


def test_halves_cut_in_queue_order() -> None:
    assert split(_ids("a", "b", "c", "d"), [0.9] * 4, SplitRule.HALVES) == (
        _ids("a", "b"),
        _ids("c", "d"),
    )


def test_likeliest_isolates_a_dominant_culprit_and_keeps_queue_order() -> None:
    parts = split(_ids("a", "b", "c", "d"), [0.97, 0.97, 0.5, 0.97], SplitRule.LIKELIEST)
    assert parts == (_ids("a", "b", "d"), _ids("c"))


def test_likeliest_with_equal_odds_is_halves() -> None:
    members = _ids("a", "b", "c", "d", "e")
    for rule in SplitRule:
        one, other = split(members, [0.9] * 5, rule)
        assert (one + other) == members or (other + one) == members
    assert split(members, [0.9] * 5, SplitRule.LIKELIEST) == split(
        members, [0.9] * 5, SplitRule.HALVES
    )


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot be split"):
        split(_ids("a"), [0.5], SplitRule.HALVES)
    with pytest.raises(ValueError, match="max_size"):
        BatchPolicy(max_size=0)
    with pytest.raises(ValueError, match="min_pass_probability"):
        BatchPolicy(min_pass_probability=1.5)
    with pytest.raises(ValueError, match="max_dependencies"):
        BatchPolicy(max_dependencies=-1)


class _ByLetter:
    """Two batches conflict when their requests' names share a letter after the first."""

    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]:
        mine = set(candidate.contains[0][1:])
        return [
            Conflict(batch_id=b.id, type=ConflictType.TARGET_OVERLAP)
            for b in in_flight
            if mine & set(b.contains[0][1:])
        ]


def test_what_a_waiting_request_conflicts_with_is_split_into_batches_in_flight_and_peers() -> None:
    in_flight = [Batch(id=BatchID("q/batch/1"), queue="q", contains=(RequestID("fx"),))]
    waiting = [
        Waiting(request=RequestID(name), since_ms=0, probability=0.9)
        for name in ("ax", "by", "cy", "dz")
    ]

    def alone(request: RequestID) -> Batch:
        return Batch(id=BatchID(f"q/waiting/{request}"), queue="q", contains=(request,))

    found = with_conflicts(waiting, _ByLetter(), in_flight, alone)
    assert [(w.request, set(w.dependencies), set(w.conflicts)) for w in found] == [
        ("ax", {"q/batch/1"}, set()),
        ("by", set(), {"cy"}),
        ("cy", set(), {"by"}),
        ("dz", set(), set()),
    ]
    # An exact queue: every batch in flight is a dependency (`all`), peers kept apart by letter.
    ordered = with_conflicts(
        waiting, AllConflictAnalyzer(), in_flight, alone, separating=_ByLetter()
    )
    assert [(w.request, set(w.dependencies), set(w.conflicts)) for w in ordered] == [
        ("ax", {"q/batch/1"}, set()),
        ("by", {"q/batch/1"}, {"cy"}),
        ("cy", {"q/batch/1"}, {"by"}),
        ("dz", {"q/batch/1"}, set()),
    ]


DEEP = DeepBatching(build_time_ms=600_000, arrivals=3, max_size=2, max_wait_ms=30_000)
SHALLOW = BatchPolicy(max_size=6, max_wait_ms=120_000, max_dependencies=3, deep=DEEP)


def test_a_deep_queue_follows_its_deep_rules_from_the_arrivals_it_names() -> None:
    assert SHALLOW.at(2) is SHALLOW
    deep = SHALLOW.at(3)
    assert (deep.max_size, deep.max_wait_ms, deep.max_dependencies) == (2, 30_000, None)
    assert (deep.min_pass_probability, deep.split) == (SHALLOW.min_pass_probability, SHALLOW.split)
    assert deep.deep is None


def test_only_deep_batching_still_sends_requests_through_the_waiting_room() -> None:
    alone = BatchPolicy(deep=DEEP)
    assert alone.enabled
    assert form(_waiting(0.95, 0.95), alone.at(0), now_ms=0).closed == (_ids("r0"), _ids("r1"))
    assert form(_waiting(0.95, 0.95), alone.at(3), now_ms=0).closed == (_ids("r0", "r1"),)


@pytest.mark.parametrize(
    "bad",
    [
        {"build_time_ms": 0, "arrivals": 3},
        {"build_time_ms": 1, "arrivals": 0},
        {"build_time_ms": 1, "arrivals": 3, "max_size": 0},
        {"build_time_ms": 1, "arrivals": 3, "max_dependencies": -1},
    ],
)
def test_deep_rules_are_checked_like_the_queue_s_own(bad: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="batching"):
        DeepBatching(**bad)
