"""Generator vectors E1-E6 (speculation-spec §6.1)."""

import itertools
import math
import random

import pytest
from speculation_helpers import F, FailingScorer, S, TableScorer, batch, short

from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.speculator.standard.generator import BestFirstGenerator


def drain(batches, scores, limit=None):
    stream = BestFirstGenerator(TableScorer(scores)).generate(batches)
    return [(short(c.path), c.ranking_score) for c in itertools.islice(stream, limit)]


def assert_sequence(got, expected):
    assert [name for name, _ in got] == [name for name, _ in expected]
    for (_, score), (_, p) in zip(got, expected, strict=True):
        assert score == pytest.approx(math.log(p), abs=1e-9)


def test_e1_rfc_walkthrough():
    batches = [
        batch("A"),
        batch("B", deps=("A",)),
        batch("C", deps=("A", "B")),
        batch("D"),
    ]
    got = drain(batches, {"A": 0.9, "B": 0.8})
    expected = [
        ("A[]", 1.0),
        ("D[]", 1.0),
        ("B[A=s]", 0.9),
        ("C[A=s,B=s]", 0.72),
        ("C[A=s,B=f]", 0.18),
        ("B[A=f]", 0.1),
        ("C[A=f,B=s]", 0.08),
        ("C[A=f,B=f]", 0.02),
    ]
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (_, score), (_, p) in zip(got, expected, strict=True):
        assert math.exp(score) == pytest.approx(p, abs=1e-9)


def test_e2_exact_sequence_across_heads():
    batches = [
        batch("q/A", "created"),
        batch("q/B", "created"),
        batch("q/D"),
        batch("q/C", deps=("q/A", "q/B")),
    ]
    got = drain(batches, {"q/A": 0.9, "q/B": 0.8})
    assert_sequence(
        got,
        [
            ("q/D[]", 1.0),
            ("q/C[q/A=s,q/B=s]", 0.72),
            ("q/C[q/A=s,q/B=f]", 0.18),
            ("q/C[q/A=f,q/B=s]", 0.08),
            ("q/C[q/A=f,q/B=f]", 0.02),
        ],
    )


def test_e3_preferred_assumption_follows_score():
    batches = [batch("q/high", "created"), batch("q/low", "created")]
    batches.append(batch("q/H", deps=("q/high", "q/low")))
    got = drain(batches, {"q/high": 0.8, "q/low": 0.3})
    assert_sequence(
        got,
        [
            ("q/H[q/high=s,q/low=f]", 0.56),
            ("q/H[q/high=s,q/low=s]", 0.24),
            ("q/H[q/high=f,q/low=f]", 0.14),
            ("q/H[q/high=f,q/low=s]", 0.06),
        ],
    )


def test_e4_equal_scores_order_by_head_id():
    batches = [batch(h) for h in ("q/e", "q/b", "q/d", "q/a", "q/c")]
    assert [n for n, _ in drain(batches, {})] == ["q/a[]", "q/b[]", "q/c[]", "q/d[]", "q/e[]"]


def test_e4_coin_tosses_alternate_heads_then_flips():
    batches = [
        batch("q/coinA", "created"),
        batch("q/coinB", "created"),
        batch("q/b", deps=("q/coinB",)),
        batch("q/a", deps=("q/coinA",)),
    ]
    got = drain(batches, {"q/coinA": 0.5, "q/coinB": 0.5})
    assert [n for n, _ in got] == [
        "q/a[q/coinA=s]",
        "q/b[q/coinB=s]",
        "q/a[q/coinA=f]",
        "q/b[q/coinB=f]",
    ]
    assert len({s for _, s in got}) == 1


def test_e4_repeated_runs_give_identical_ids():
    deps = ("q/x", "q/y", "q/z")
    batches = [*(batch(d, "created") for d in deps), batch("q/h", deps=deps)]
    gen = BestFirstGenerator(ConstantScorer(0.5))
    first = [c.path.id for c in gen.generate(batches)]
    assert len(set(first)) == 8
    for _ in range(3):
        assert [c.path.id for c in gen.generate(list(reversed(batches)))] == first


@pytest.mark.parametrize(
    ("state", "expected"),
    [("succeeded", "q/H[q/A=s]"), ("failed", "q/H[q/A=f]"), ("cancelled", "q/H[q/A=f]")],
)
def test_e5_pins_resolved_dependencies(state, expected):
    got = drain([batch("q/A", state), batch("q/H", deps=("q/A",))], {})
    assert got == [(expected, 0.0)]


def test_e5_resolved_dependencies_drop_out_of_search():
    batches = [
        batch("q/succeeded", "succeeded"),
        batch("q/failed", "failed"),
        batch("q/open", "created"),
        batch("q/H", deps=("q/succeeded", "q/failed", "q/open")),
    ]
    got = drain(batches, {"q/open": 0.7})
    assert_sequence(
        got,
        [
            ("q/H[q/succeeded=s,q/failed=f,q/open=s]", 0.7),
            ("q/H[q/succeeded=s,q/failed=f,q/open=f]", 0.3),
        ],
    )


def test_e5_resolved_dependencies_are_never_scored():
    calls: list[str] = []
    batches = [
        batch("q/ok", "succeeded"),
        batch("q/bad", "failed"),
        batch("q/gone", "cancelled"),
        batch("q/running", "speculating"),
        batch("q/H", deps=("q/ok", "q/bad", "q/gone", "q/running")),
    ]
    gen = BestFirstGenerator(TableScorer({"q/running": 0.8}, calls))
    paths = [c for c in gen.generate(batches) if c.path.head == "q/H"]
    assert calls == ["q/running"]
    assert len(paths) == 2


def test_e5_merging_dependency_stays_open_and_is_scored_once():
    calls: list[str] = []
    batches = [batch("q/m", "merging"), batch("q/H", deps=("q/m",)), batch("q/G", deps=("q/m",))]
    got = [
        short(c.path)
        for c in BestFirstGenerator(TableScorer({"q/m": 0.9}, calls)).generate(batches)
    ]
    assert got == ["q/G[q/m=s]", "q/H[q/m=s]", "q/G[q/m=f]", "q/H[q/m=f]"]
    assert calls == ["q/m"]


def test_e5_absorbs_scorer_error():
    batches = [batch("q/A", "created"), batch("q/H", deps=("q/A",))]
    got = [
        (short(c.path), c.ranking_score)
        for c in BestFirstGenerator(FailingScorer()).generate(batches)
    ]
    assert [n for n, _ in got] == ["q/H[q/A=s]", "q/H[q/A=f]"]
    assert got[0][1] == pytest.approx(math.log(0.95))


def test_e5_never_scores_an_absent_dependency():
    calls: list[str] = []
    gen = BestFirstGenerator(TableScorer({}, calls))
    got = list(gen.generate([batch("q/H", deps=("q/missing",))]))
    assert calls == []
    assert len(got) == 2
    assert got[0].ranking_score == pytest.approx(math.log(0.95))


@pytest.mark.parametrize("bad", [1.5, -0.1, math.nan, math.inf, -math.inf])
def test_e5_defaults_score_outside_unit_interval(bad):
    got = drain([batch("q/A", "created"), batch("q/H", deps=("q/A",))], {"q/A": bad})
    assert [n for n, _ in got] == ["q/H[q/A=s]", "q/H[q/A=f]"]
    assert got[0][1] == math.log(0.95)
    assert got[1][1] == math.log(1 - 0.95)


def test_e5_impossible_flip_scores_negative_infinity_and_comes_last():
    batches = [
        batch("q/certain", "created"),
        batch("q/toss", "created"),
        batch("q/H1", deps=("q/certain",)),
        batch("q/H2", deps=("q/toss",)),
    ]
    got = drain(batches, {"q/certain": 1.0, "q/toss": 0.6})
    assert [n for n, _ in got] == [
        "q/H1[q/certain=s]",
        "q/H2[q/toss=s]",
        "q/H2[q/toss=f]",
        "q/H1[q/certain=f]",
    ]
    assert got[-1][1] == -math.inf


@pytest.mark.parametrize("state", ["created", "merging", "cancelling", "succeeded", "failed"])
def test_e5_only_speculating_heads_produce_candidates(state):
    assert drain([batch("q/A", state)], {}) == []
    assert len(drain([batch("q/A")], {})) == 1


def test_e5_head_with_no_dependencies():
    (only,) = BestFirstGenerator(ConstantScorer(0.3)).generate([batch("q/A")])
    assert only.path.dependencies == ()
    assert only.ranking_score == 0.0


def test_e5_generates_only_what_is_pulled():
    deps = tuple(f"q/d{i:02}" for i in range(12))
    batches = [*(batch(d, "created") for d in deps), batch("q/H", deps=deps)]
    stream = BestFirstGenerator(ConstantScorer(0.8)).generate(batches)
    for _ in range(3):
        next(stream)
    assert stream.materialized <= 8


@pytest.mark.parametrize("n", [30, 64])
def test_many_unresolved_dependencies_are_enumerated_lazily(n):
    deps = tuple(f"q/d{i:03}" for i in range(n))
    rng = random.Random(n)
    scores = {d: rng.uniform(0.05, 0.95) for d in deps}
    batches = [*(batch(d, "created") for d in deps), batch("q/H", deps=deps)]
    stream = BestFirstGenerator(TableScorer(scores)).generate(batches)
    pulled = list(itertools.islice(stream, 50))
    assert len({c.path.id for c in pulled}) == 50
    assert stream.materialized <= 2 + 2 * 50
    scores_seen = [c.ranking_score for c in pulled]
    assert scores_seen == sorted(scores_seen, reverse=True)


@pytest.mark.parametrize("n", range(1, 7))
def test_e5_matches_brute_force_enumeration(n):
    rng = random.Random(1000 + n)
    deps = tuple(f"q/d{i}" for i in range(n))
    scores = {d: rng.random() for d in deps}
    batches = [*(batch(d, "created") for d in deps), batch("q/H", deps=deps)]
    got = list(BestFirstGenerator(TableScorer(scores)).generate(batches))
    assert len({c.path.id for c in got}) == 2**n
    brute = sorted(
        (
            sum(
                math.log(scores[d] if a is S else 1 - scores[d])
                for d, a in zip(deps, combo, strict=True)
            )
            for combo in itertools.product((S, F), repeat=n)
        ),
        reverse=True,
    )
    for c, expected in zip(got, brute, strict=True):
        assert c.ranking_score == pytest.approx(expected, abs=1e-9)


def test_log_scores_do_not_underflow_with_thousands_of_dependencies():
    deps = tuple(f"q/d{i:04}" for i in range(7100))
    batches = [*(batch(d, "created") for d in deps), batch("q/H", deps=deps), batch("q/G")]
    stream = BestFirstGenerator(ConstantScorer(0.9)).generate(batches)
    first, second, third = (next(stream) for _ in range(3))
    assert short(first.path) == "q/G[]"
    assert second.ranking_score == pytest.approx(7100 * math.log(0.9))
    assert math.isfinite(third.ranking_score)
    assert third.ranking_score < second.ranking_score


def test_e6_flat_scorer():
    batches = [batch("A"), batch("B", deps=("A",)), batch("C", deps=("A", "B"))]
    got = [
        (short(c.path), c.ranking_score)
        for c in BestFirstGenerator(ConstantScorer(0.5)).generate(batches)
    ]
    assert [n for n, _ in got] == [
        "A[]",
        "B[A=s]",
        "B[A=f]",
        "C[A=s,B=s]",
        "C[A=f,B=s]",
        "C[A=s,B=f]",
        "C[A=f,B=f]",
    ]
    assert got[1][1] == pytest.approx(-0.693147, abs=1e-6)
    assert got[3][1] == pytest.approx(-1.386294, abs=1e-6)


def test_e6_direct_chain_fewer_flips_beats_head_id():
    batches = [
        batch("q/batch/1"),
        batch("q/batch/2", deps=("q/batch/1",)),
        batch("q/batch/3", deps=("q/batch/2",)),
    ]
    got = [short(c.path) for c in BestFirstGenerator(ConstantScorer(0.5)).generate(batches)]
    assert got == [
        "q/batch/1[]",
        "q/batch/2[q/batch/1=s]",
        "q/batch/3[q/batch/2=s]",
        "q/batch/2[q/batch/1=f]",
        "q/batch/3[q/batch/2=f]",
    ]


def test_e6_bucket_scorer_example():
    batches = [batch("A"), batch("B", deps=("A",)), batch("C", deps=("A", "B"))]
    got = drain(batches, {"A": 0.95, "B": 0.60})
    expected = [
        ("A[]", 1.0),
        ("B[A=s]", 0.95),
        ("C[A=s,B=s]", 0.57),
        ("C[A=s,B=f]", 0.38),
        ("B[A=f]", 0.05),
        ("C[A=f,B=s]", 0.03),
        ("C[A=f,B=f]", 0.02),
    ]
    assert [n for n, _ in got] == [n for n, _ in expected]
    for (_, score), (_, p) in zip(got, expected, strict=True):
        assert math.exp(score) == pytest.approx(p, abs=1e-9)


def test_head_ids_compare_as_plain_strings():
    got = drain([batch("q/batch/2"), batch("q/batch/10")], {})
    assert [n for n, _ in got] == ["q/batch/10[]", "q/batch/2[]"]
