"""Scorers: constant, heuristic buckets (speculation-spec §4.3) and history."""

import random

import pytest
from speculation_helpers import batch

from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.extension.scorer import ScorerError
from sq.submitqueue.extension.scorer.constant import ConstantScorer
from sq.submitqueue.extension.scorer.heuristic import FLAT_BUCKETS, Bucket, HeuristicScorer
from sq.submitqueue.extension.scorer.history import (
    PRUNE_EVERY,
    HistoryConfig,
    HistoryScorer,
    size_bucket,
)
from sq.submitqueue.extension.scorer.outcomes import (
    BatchFeatures,
    BatchOutcome,
    MemoryOutcomeStore,
    top_level_area,
)


def test_constant_scorer():
    assert ConstantScorer(0.7).score(batch("q/1")) == 0.7
    with pytest.raises(ValueError):
        ConstantScorer(1.2)


def buckets(*rows):
    return [Bucket(min=lo, max=hi, score=s) for lo, hi, s in rows]


@pytest.mark.parametrize(
    ("rows", "value", "expected"),
    [
        ([(0, 1000, 0.9)], 5, 0.9),
        ([(0, 5, 0.95), (6, 20, 0.75), (21, 100, 0.5)], 10, 0.75),
        ([(0, 5, 0.95), (6, 20, 0.75)], 6, 0.75),
        ([(0, 5, 0.95), (6, 20, 0.75)], 5, 0.95),
        ([(0, 0, 1.0), (1, 100, 0.8)], 0, 1.0),
        ([(0, 10, 0.9), (5, 15, 0.7)], 7, 0.9),
    ],
)
def test_heuristic_scorer(rows, value, expected):
    assert HeuristicScorer(buckets(*rows), lambda b: value).score(batch("q/1")) == expected


def test_heuristic_no_matching_bucket_is_an_error():
    with pytest.raises(ScorerError):
        HeuristicScorer(buckets((0, 5, 0.95), (10, 20, 0.75)), lambda b: 7).score(batch("q/1"))


def test_heuristic_sizing_failure_is_a_scorer_error():
    def broken(b):
        raise OSError("no changes")

    with pytest.raises(ScorerError):
        HeuristicScorer(FLAT_BUCKETS, broken).score(batch("q/1"))


@pytest.mark.parametrize(("lo", "hi", "score"), [(5, 4, 0.5), (0, 1, 1.5), (0, 1, -0.1)])
def test_bucket_validation(lo, hi, score):
    with pytest.raises(ValueError):
        Bucket(min=lo, max=hi, score=score)


def test_flat_default_scores_everything_one_half():
    assert HeuristicScorer(FLAT_BUCKETS, lambda b: 123456).score(batch("q/1")) == 0.5


def test_feature_helpers():
    assert [size_bucket(n) for n in (0, 10, 11, 100, 1000, 1001)] == [
        "xs",
        "xs",
        "s",
        "s",
        "m",
        "l",
    ]
    assert top_level_area("src/pkg/a.go") == "src"
    assert top_level_area("README.md") == "."


ALICE = BatchFeatures(author="alice", areas=frozenset({"web"}), lines_changed=5)
BOB = BatchFeatures(author="bob", areas=frozenset({"infra"}), lines_changed=5)


def outcome(n, features, succeeded):
    return BatchOutcome(
        batch_id=BatchID(f"q/batch/{n}"), features=features, succeeded=succeeded, recorded_at_ms=n
    )


def test_history_falls_back_to_the_prior_without_history():
    scorer = HistoryScorer(lambda b: ALICE, MemoryOutcomeStore(), HistoryConfig(prior_mean=0.8))
    assert scorer.score(batch("q/1")) == pytest.approx(0.8)


def test_history_learns_who_and_where_breaks_things():
    scorer = HistoryScorer(lambda b: ALICE, MemoryOutcomeStore())
    for n in range(40):
        scorer.record(outcome(2 * n, ALICE, True))
        scorer.record(outcome(2 * n + 1, BOB, n % 3 == 0))
    alice, bob = scorer.probability(ALICE), scorer.probability(BOB)
    unknown = scorer.probability(BatchFeatures(author="carol", lines_changed=5))
    assert alice > unknown > bob
    assert 0.02 <= bob < 0.5 < alice <= 0.98


def test_history_is_idempotent_and_replays_from_its_store():
    store = MemoryOutcomeStore()
    scorer = HistoryScorer(lambda b: BOB, store)
    assert scorer.record(outcome(1, BOB, False))
    assert not scorer.record(outcome(1, BOB, False))
    for n in range(2, 20):
        scorer.record(outcome(n, BOB, False))
    again = HistoryScorer(lambda b: BOB, store)
    assert again.probability(BOB) == pytest.approx(scorer.probability(BOB))
    assert again.probability(BOB) < HistoryConfig().prior_mean


def test_history_memory_is_bounded():
    scorer = HistoryScorer(lambda b: ALICE, MemoryOutcomeStore(), HistoryConfig(max_values=10))
    for n in range(100):
        features = BatchFeatures(author=f"a{n}", areas=frozenset({f"d{n}"}), lines_changed=n)
        scorer.record(outcome(n, features, True))
    assert scorer.remembered_values() <= 30


def test_history_window_keeps_following_recent_behaviour():
    scorer = HistoryScorer(lambda b: ALICE, MemoryOutcomeStore(), HistoryConfig(window=20))
    for n in range(200):
        scorer.record(outcome(n, ALICE, True))
    good = scorer.probability(ALICE)
    for n in range(200, 230):
        scorer.record(outcome(n, ALICE, False))
    assert scorer.probability(ALICE) < 0.5 < good


def test_history_feature_failure_is_a_scorer_error():
    def broken(b):
        raise OSError("no change records")

    with pytest.raises(ScorerError):
        HistoryScorer(broken, MemoryOutcomeStore()).score(batch("q/1"))


def test_memory_store_recent_and_prune():
    store = MemoryOutcomeStore()
    for n in range(5):
        store.append(outcome(n, ALICE, True))
    assert [o.recorded_at_ms for o in store.recent(2)] == [3, 4]
    assert store.prune(3) == 2
    assert [o.recorded_at_ms for o in store.recent(10)] == [2, 3, 4]


def test_history_learns_a_batch_once_and_keeps_its_store_bounded():
    store = MemoryOutcomeStore()
    scorer = HistoryScorer(lambda b: BOB, store, HistoryConfig(replay=30))
    assert scorer.learn(batch("q/batch/1"), False, at_ms=7)
    assert not scorer.learn(batch("q/batch/1"), True, at_ms=8)  # a redelivered conclusion
    assert store.recent(5)[0].features == BOB and not store.recent(5)[0].succeeded
    for n in range(2, PRUNE_EVERY + 1):
        scorer.learn(batch(f"q/batch/{n}"), True, at_ms=n)
    assert len(store.recent(1000)) == 30  # pruned to what a restart replays


def test_history_learn_needs_a_description():
    def broken(b):
        raise OSError("no change records")

    with pytest.raises(ScorerError):
        HistoryScorer(broken, MemoryOutcomeStore()).learn(batch("q/1"), True, at_ms=1)


LIB = frozenset({"lib"})


def _team(config):
    """Ten careful authors (ten clean outcomes each) and ten careless ones (half fail)."""
    scorer = HistoryScorer(lambda b: ALICE, MemoryOutcomeStore(), config)
    n = 0
    for k in range(10):
        for i in range(10):
            careful = BatchFeatures(author=f"careful{k}", areas=LIB, lines_changed=5)
            careless = BatchFeatures(author=f"careless{k}", areas=LIB, lines_changed=5)
            scorer.record(outcome(n, careful, True))
            scorer.record(outcome(n + 1, careless, i % 2 == 0))
            n += 2
    return scorer, n


def test_history_learns_a_risky_author_faster_when_authors_clearly_differ():
    # Authors here differ far more than a fixed pull of 5 pseudo-trials assumes, so a newcomer's
    # first failures say more: the adaptive model moves further on the same three outcomes.
    risky = BatchFeatures(author="newcomer", areas=frozenset({"lib"}), lines_changed=5)
    learned = {}
    for adaptive in (True, False):
        scorer, n = _team(HistoryConfig(adaptive=adaptive))
        before = scorer.probability(risky)
        for i, ok in enumerate((False, True, False)):
            scorer.record(outcome(n + i, risky, ok))
        learned[adaptive] = (before, scorer.probability(risky))
    (before, adaptive), (_, fixed) = learned[True], learned[False]
    assert before - adaptive > 1.25 * (before - fixed) > 0  # 0.74 -> 0.52 against -> 0.58


def test_history_ignores_a_feature_whose_values_differ_only_by_chance():
    # Every change fails one time in five whatever its size. The fixed model reads the chance
    # differences between size buckets as signal; the adaptive one finds no spread beyond chance
    # in most draws (and a small one in the rest), so it all but leaves the feature out.
    sizes = (3, 50, 500, 5000)

    def spread(adaptive: bool, seed: int) -> float:
        scorer = HistoryScorer(
            lambda b: ALICE, MemoryOutcomeStore(), HistoryConfig(adaptive=adaptive)
        )
        draw = random.Random(seed)
        for n in range(400):
            ok = draw.random() >= 0.2
            scorer.record(outcome(n, BatchFeatures(lines_changed=sizes[n % 4]), ok))
        scores = [scorer.probability(BatchFeatures(lines_changed=s)) for s in sizes]
        return max(scores) - min(scores)

    adaptive = [spread(True, seed) for seed in range(1, 11)]
    fixed = [spread(False, seed) for seed in range(1, 11)]
    assert sum(1 for s in adaptive if s < 0.01) >= 5
    assert sum(adaptive) < sum(fixed) / 4


def test_history_strength_falls_back_until_a_group_has_enough_trials():
    # Under `adaptive_after` trials a group's spread says nothing yet: the fixed pull applies, and
    # the adaptive model scores exactly as the fixed one does.
    history = [
        (BatchFeatures(author=f"a{n % 3}", lines_changed=5), n % 5 > n % 3) for n in range(20)
    ]
    scores = []
    for adaptive in (True, False):
        config = HistoryConfig(adaptive=adaptive, adaptive_after=30.0)
        scorer = HistoryScorer(lambda b: ALICE, MemoryOutcomeStore(), config)
        for n, (features, ok) in enumerate(history):
            scorer.record(outcome(n, features, ok))
        scores.append([scorer.probability(f) for f, _ in history[:3]])
    assert scores[0] == pytest.approx(scores[1])
    assert len(set(scores[0])) == 3


def test_history_config_rejects_inverted_strength_bounds():
    with pytest.raises(ValueError):
        HistoryConfig(min_strength=10.0, max_strength=5.0)
    with pytest.raises(ValueError):
        HistoryConfig(min_strength=0.0)
