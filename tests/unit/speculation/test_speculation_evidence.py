"""What the queue's own builds say about each batch (value/evidence.py), computed by hand.

Every change lands with 0.9 before any build. A failed build of B stacked on A, with nothing
else to blame, leaves B at 0.9·0.1 / (0.9·0.1 + 0.1) = 0.474 and weighs on A by
1 / (1 - P(B good)) = 1.9 on the odds that A is bad.
"""

from __future__ import annotations

import pytest
from speculation_helpers import S, TableScorer, batch, entry, path, pset, snap

from sq.submitqueue.entity.pathset import PathSet
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator.value import evidence


def probabilities(s: SpeculationSnapshot) -> dict[str, float]:
    scores = {b.id: 0.9 for b in s.batches}
    return dict(evidence.landing_probabilities(s, TableScorer(scores), 0.9))


def failed_on(head: str, *deps: str) -> PathSet:
    return pset(head, entry(path(head, *((d, S) for d in deps)), "failed"))


def test_failed_builds_of_its_dependents_weigh_against_a_dependency() -> None:
    # A's own build has not told; B and C each failed stacked on A. Odds that A is bad:
    # 1/9 x 1.9 x 1.9 = 0.401, so P(A) = 0.714; one failed dependent alone gives 0.826.
    deps = (batch("q/A"), batch("q/B", deps=("q/A",)), batch("q/C", deps=("q/A",)))
    both = probabilities(snap(*deps, sets=(failed_on("q/B", "q/A"), failed_on("q/C", "q/A"))))
    one = probabilities(snap(*deps, sets=(failed_on("q/B", "q/A"),)))

    assert both["q/B"] == pytest.approx(0.09 / 0.19)
    assert both["q/A"] == pytest.approx(1 / (1 + (1 / 9) * (1 / (1 - 0.09 / 0.19)) ** 2))
    assert both["q/A"] == pytest.approx(0.714, abs=1e-3)
    assert one["q/A"] == pytest.approx(0.826, abs=1e-3)


def test_a_failure_something_else_explains_blames_the_dependency_nothing() -> None:
    # X failed (declared): B's build stacked on A and X failed because of X, not A.
    s = snap(
        batch("q/X", state="failed"),
        batch("q/A"),
        batch("q/B", deps=("q/A", "q/X")),
        sets=(failed_on("q/B", "q/A", "q/X"),),
    )
    assert probabilities(s)["q/A"] == pytest.approx(0.9)


def test_a_dependency_proven_good_stays_good_whatever_failed_on_it() -> None:
    # C's passed build included A: A is good, B's failure on A is B's own.
    passed = pset("q/C", entry(path("q/C", ("q/A", S)), "passed"))
    s = snap(
        batch("q/A"),
        batch("q/B", deps=("q/A",)),
        batch("q/C", deps=("q/A",)),
        sets=(failed_on("q/B", "q/A"), passed),
    )
    p = probabilities(s)
    assert p["q/A"] == evidence.PROVEN_GOOD
    assert p["q/B"] == pytest.approx(0.9 * (1 - 0.999) / (0.9 * (1 - 0.999) + 0.1))
