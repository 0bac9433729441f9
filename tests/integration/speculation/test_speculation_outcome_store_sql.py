"""The SQL outcome store on a real SQLite file."""

import pytest
import sqlalchemy as sa

from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.extension.scorer.history import HistoryScorer
from sq.submitqueue.extension.scorer.outcomes import BatchFeatures, BatchOutcome
from sq.submitqueue.orchestrator.storage.outcomes import SqlOutcomeStore, metadata


@pytest.fixture
def engine(tmp_path):
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'outcomes.db'}")
    metadata.create_all(engine)
    yield engine
    engine.dispose()


def outcome(n, succeeded=True, author="alice"):
    features = BatchFeatures(author=author, areas=frozenset({"web", "api"}), lines_changed=n)
    return BatchOutcome(
        batch_id=BatchID(f"q/batch/{n}"),
        features=features,
        succeeded=succeeded,
        recorded_at_ms=1000 + n,
    )


def test_append_is_idempotent_and_recent_is_oldest_first(engine):
    store = SqlOutcomeStore(engine, "q")
    assert store.append(outcome(1))
    assert not store.append(outcome(1, succeeded=False))
    for n in range(2, 6):
        store.append(outcome(n, succeeded=n % 2 == 0))
    assert store.recent(3) == [outcome(3, False), outcome(4, True), outcome(5, False)]
    assert store.recent(0) == []


def test_queues_are_separate(engine):
    SqlOutcomeStore(engine, "q").append(outcome(1))
    other = SqlOutcomeStore(engine, "other")
    assert other.recent(10) == []
    assert other.append(outcome(1))


def test_prune_keeps_the_newest(engine):
    store = SqlOutcomeStore(engine, "q")
    for n in range(1, 8):
        store.append(outcome(n))
    SqlOutcomeStore(engine, "other").append(outcome(1))
    assert store.prune(2) == 5
    assert [o.batch_id for o in store.recent(10)] == ["q/batch/6", "q/batch/7"]
    assert store.prune(5) == 0
    assert len(SqlOutcomeStore(engine, "other").recent(10)) == 1


def test_history_scorer_survives_a_restart(engine):
    scorer = HistoryScorer(lambda b: outcome(0).features, SqlOutcomeStore(engine, "q"))
    for n in range(1, 30):
        scorer.record(outcome(n, succeeded=False))
    restarted = HistoryScorer(lambda b: outcome(0).features, SqlOutcomeStore(engine, "q"))
    features = outcome(0).features
    assert restarted.probability(features) == pytest.approx(scorer.probability(features))
    assert restarted.probability(features) < 0.5
