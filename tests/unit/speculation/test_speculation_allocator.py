"""Allocator and standard speculator vectors E7-E8 (speculation-spec §6.2), and budget rules."""

import pytest
from speculation_helpers import F, S, batch, entry, path, pset, short, snap

from sq.submitqueue.entity.budget import (
    DEFAULT_BUILD_BUDGET,
    free_slots,
    resolve_budget,
    slots_in_use,
)
from sq.submitqueue.entity.proposal import CandidatePath, PathAction
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.speculator import SpeculatorError
from sq.submitqueue.extension.speculator.standard import StandardSpeculator, StickyAllocator


def cand(head, a, dep="q/1"):
    return CandidatePath(path=path(head, (dep, a)), ranking_score=0.0)


def stored(head, a, status, dep="q/1"):
    return pset(head, entry(path(head, (dep, a)), status))


class Pulls:
    """An iterator that counts how often it was pulled."""

    def __init__(self, items):
        self.items = list(items)
        self.pulled = 0

    def __iter__(self):
        return self

    def __next__(self):
        if not self.items:
            raise StopIteration
        self.pulled += 1
        return self.items.pop(0)


TWO_CHOICES = [cand("q/2", S), cand("q/2", F)]

E7 = [
    (
        "fills free budget in order",
        2,
        [],
        [cand("q/2", S), cand("q/2", F), cand("q/3", S)],
        ["q/2[q/1=s]", "q/2[q/1=f]"],
    ),
    ("keeps in-flight funded", 2, [stored("q/2", S, "building")], TWO_CHOICES, ["q/2[q/1=f]"]),
    (
        "terminal entry charges nothing",
        1,
        [stored("q/2", S, "passed")],
        [cand("q/3", F)],
        ["q/3[q/1=f]"],
    ),
    ("skips passed top candidate", 1, [stored("q/2", S, "passed")], TWO_CHOICES, ["q/2[q/1=f]"]),
    ("skips failed top candidate", 1, [stored("q/2", S, "failed")], TWO_CHOICES, ["q/2[q/1=f]"]),
    (
        "skips cancelled top candidate",
        1,
        [stored("q/2", S, "cancelled")],
        TWO_CHOICES,
        ["q/2[q/1=f]"],
    ),
    ("pending charges budget", 1, [stored("q/2", S, "pending")], [cand("q/3", S)], []),
    ("cancelling charges budget", 1, [stored("q/2", S, "cancelling")], [cand("q/3", S)], []),
    ("duplicate candidate", 5, [], [cand("q/2", S), cand("q/2", S)], ["q/2[q/1=s]"]),
]


@pytest.mark.parametrize(
    ("case", "budget", "sets", "candidates", "expected"), E7, ids=[c[0] for c in E7]
)
def test_e7_sticky_allocate(case, budget, sets, candidates, expected):
    out = StickyAllocator(budget).allocate(sets, iter(candidates))
    assert [short(s.path) for s in out] == expected
    assert all(s.action is PathAction.BUILD for s in out)


def test_e7_entry_with_empty_status_is_an_error():
    with pytest.raises(SpeculatorError):
        StickyAllocator(1).allocate([stored("q/2", S, "")], iter([cand("q/3", S)]))


def test_e7_iterator_error_propagates():
    def failing():
        raise RuntimeError("ranking failed")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError):
        StickyAllocator(2).allocate([], failing())


def test_no_free_slot_pulls_nothing():
    pulls = Pulls([cand("q/3", S)])
    assert StickyAllocator(1).allocate([stored("q/2", S, "building")], pulls) == []
    assert pulls.pulled == 0


def test_stops_pulling_once_the_budget_is_full():
    pulls = Pulls([cand("q/2", S), cand("q/2", F), cand("q/3", S)])
    StickyAllocator(2).allocate([], pulls)
    assert pulls.pulled == 2


def test_negative_budget_is_rejected():
    with pytest.raises(ValueError):
        StickyAllocator(-1)


def test_e8_composed_end_to_end_naive_pair():
    s = StandardSpeculator(ConstantScorer(0.9), 2)
    out = s.speculate(snap(batch("q/1"), batch("q/2", deps=("q/1",))))
    assert [short(p.path) for p in out] == ["q/1[]", "q/2[q/1=s]"]
    assert out[0].ranking_score == 0.0
    assert out[1].ranking_score == pytest.approx(-0.1053605, abs=1e-6)


def test_e1_budget_funds_exactly_the_first_rows():
    batches = (batch("A"), batch("B", deps=("A",)), batch("C", deps=("A", "B")), batch("D"))

    class Scores:
        def score(self, b):
            return {"A": 0.9, "B": 0.8}[b.id]

    two = StandardSpeculator(Scores(), 2).speculate(snap(*batches))
    four = StandardSpeculator(Scores(), 4).speculate(snap(*batches))
    assert [short(p.path) for p in two] == ["A[]", "D[]"]
    assert [short(p.path) for p in four] == ["A[]", "D[]", "B[A=s]", "C[A=s,B=s]"]


def test_budget_counts_pending_building_and_cancelling_across_heads():
    sets = [
        pset(
            "q/2",
            *(entry(path("q/2", ("q/1", a)), st) for a, st in ((S, "pending"), (F, "passed"))),
        ),
        pset(
            "q/3",
            entry(path("q/3", ("q/1", S)), "building"),
            entry(path("q/3", ("q/1", F)), "cancelling"),
        ),
        pset("q/4", entry(path("q/4"), "failed")),
    ]
    assert slots_in_use(sets) == 3
    assert free_slots(4, sets) == 1
    assert free_slots(2, sets) == 0


@pytest.mark.parametrize(("configured", "expected"), [(None, 4), (0, 4), (1, 1), (16, 16)])
def test_resolve_budget(configured, expected):
    assert DEFAULT_BUILD_BUDGET == 4
    assert resolve_budget(configured) == expected


def test_resolve_budget_rejects_negative():
    with pytest.raises(ValueError):
        resolve_budget(-2)
