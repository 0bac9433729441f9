"""A scorer that learns from this queue's own outcomes.

Model. A Beta-Bernoulli rate for the whole queue (a Beta prior, updated with every outcome) gives
the base rate `p0`. Each feature value (an author, a top-level area, a size bucket) has its own
success count, shrunk towards `p0` with a pseudo-count, so a value seen twice barely moves the
estimate and a value never seen contributes exactly nothing. The pseudo-count is estimated per
group from the outcomes (empirical Bayes: how much the group's values differ beyond what their
trial counts explain by chance), so a group whose values really differ (a few authors who break
things) learns a newcomer's rate from a few outcomes, and a group whose values differ only by
chance (a feature carrying no signal) is held at the base rate instead of adding noise; until a
group has `adaptive_after` trials, the fixed `feature_strength`. The feature groups are combined
in log-odds space, naive-Bayes style: each group adds its shift from `p0`; the areas of one batch
are averaged into one shift, so touching many directories does not count as many independent
pieces of evidence.

Why not logistic regression: with a few hundred outcomes per queue and sparse, high-cardinality
features (authors), the shrunk rates are as good a ranking signal, need no training loop or solver,
update in O(features) per outcome, can be explained from counts, and fall back to the prior with
no history at all. Counts are capped at `window` effective trials (scaling both down when the cap
is passed), which bounds them and makes the model follow recent behaviour; the number of values
kept per group is bounded too (least recently seen values are forgotten first).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sq.submitqueue.entity.batch import Batch
from sq.submitqueue.extension.scorer import ScorerError, check_probability
from sq.submitqueue.extension.scorer.outcomes import (
    BatchFeatures,
    BatchOutcome,
    OutcomeStore,
)

SIZE_BUCKETS = ((10, "xs"), (100, "s"), (1000, "m"))  # upper bound (inclusive) -> bucket
MEMO_SIZE = 10_000
"""Probabilities remembered between two outcomes (a batch is scored in every speculate run)."""
PRUNE_EVERY = 100
"""Outcomes recorded between two prunes of the store down to what a restart replays."""


def size_bucket(lines_changed: int) -> str:
    for bound, name in SIZE_BUCKETS:
        if lines_changed <= bound:
            return name
    return "l"


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryConfig:
    prior_mean: float = 0.9
    prior_strength: float = 10.0  # pseudo-trials of the queue-wide prior
    feature_strength: float = 5.0  # pseudo-trials pulling a value towards the base rate (cold)
    adaptive: bool = True  # estimate each group's pseudo-trials from how much its values differ
    min_strength: float = 1.0
    max_strength: float = 1000.0  # a group whose values do not differ beyond chance: no shift
    adaptive_after: float = 30.0  # trials a group needs before its strength is estimated
    window: float = 500.0  # effective trials kept per rate before older evidence is scaled down
    max_values: int = 5000  # values remembered per feature group
    replay: int = 5000  # outcomes read back from the store at start
    floor: float = 0.02
    ceiling: float = 0.98

    def __post_init__(self) -> None:
        check_probability(self.prior_mean, "prior_mean")
        if not 0.0 < self.floor <= self.ceiling < 1.0:
            raise ValueError("need 0 < floor <= ceiling < 1")
        if min(self.prior_strength, self.feature_strength, self.window, self.min_strength) <= 0:
            raise ValueError("strengths and window must be positive")
        if self.max_strength < self.min_strength:
            raise ValueError("need min_strength <= max_strength")


class _Rate:
    __slots__ = ("successes", "trials")

    def __init__(self) -> None:
        self.successes = 0.0
        self.trials = 0.0

    def observe(self, succeeded: bool, window: float) -> None:
        self.successes += 1.0 if succeeded else 0.0
        self.trials += 1.0
        if self.trials > window:
            scale = window / self.trials
            self.successes *= scale
            self.trials = window

    def shrunk(self, towards: float, strength: float) -> float:
        return (self.successes + strength * towards) / (self.trials + strength)


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class _Group:
    """The rates of one feature group, forgetting the least recently seen values past a cap."""

    def __init__(self, max_values: int) -> None:
        self._rates: OrderedDict[str, _Rate] = OrderedDict()
        self._max = max_values
        self._strength: float | None = None  # estimated pseudo-trials; None: learn since

    def observe(self, value: str, succeeded: bool, window: float) -> None:
        rate = self._rates.pop(value, None) or _Rate()
        rate.observe(succeeded, window)
        self._rates[value] = rate
        if len(self._rates) > self._max:
            self._rates.popitem(last=False)
        self._strength = None

    def strength(self, config: HistoryConfig) -> float:
        """Pseudo-trials pulling a value of this group towards the group's mean rate.

        Empirical Bayes (method of moments for a beta-binomial): the spread of the values' rates
        beyond what their trial counts explain by chance is the variance tau^2 of the true rates;
        a Beta prior with that variance around mean m has m(1 - m) / tau^2 - 1 pseudo-trials. So
        a group whose values really differ (authors who break things) moves its estimates after
        a few outcomes, and one whose values differ only by chance (a feature that carries no
        signal) is held at the base rate instead of adding noise. Until the group has
        `adaptive_after` trials over two values or more, the fixed `feature_strength`.
        """
        if not config.adaptive:
            return config.feature_strength
        if self._strength is None:
            self._strength = _moment_strength(self._rates.values(), config)
        return self._strength

    def shift(self, values: Iterable[str], p0: float, strength: float) -> float:
        """Mean log-odds shift from `p0` over `values`; unseen values shift nothing."""
        shifts = [
            _logit(rate.shrunk(p0, strength)) - _logit(p0) if rate is not None else 0.0
            for rate in (self._rates.get(v) for v in values)
        ]
        return sum(shifts) / len(shifts) if shifts else 0.0

    def __len__(self) -> int:
        return len(self._rates)


def _moment_strength(rates: Iterable[_Rate], config: HistoryConfig) -> float:
    seen = [r for r in rates if r.trials > 0]
    total = sum(r.trials for r in seen)
    if len(seen) < 2 or total < config.adaptive_after:
        return config.feature_strength
    mean = sum(r.successes for r in seen) / total
    chance = mean * (1.0 - mean)
    if chance <= 0.0:
        return config.max_strength  # every value always succeeded (or failed): nothing to tell
    spread = sum(r.trials * (r.successes / r.trials - mean) ** 2 for r in seen)
    effective = total - sum(r.trials * r.trials for r in seen) / total
    tau2 = (spread - (len(seen) - 1) * chance) / effective if effective > 0 else 0.0
    if tau2 <= 0.0:
        return config.max_strength
    return min(max(chance / tau2 - 1.0, config.min_strength), config.max_strength)


class HistoryScorer:
    """Scores a batch from the outcomes of earlier batches of the same queue.

    `features_of` describes a batch (it may block and raise; a failure is a `ScorerError`).
    `record` (or `learn`, which describes the batch first) is called once a batch has landed or
    failed to land (cancelled batches say nothing about quality and should not be recorded); it
    persists through `store` first, so a redelivered outcome is learned once. At construction the
    newest `config.replay` outcomes are read back, and the store is pruned to that many every
    `PRUNE_EVERY` new outcomes, so neither memory nor the table grows without bound. Thread-safe.
    """

    def __init__(
        self,
        features_of: Callable[[Batch], BatchFeatures],
        store: OutcomeStore,
        config: HistoryConfig | None = None,
    ) -> None:
        self._features_of = features_of
        self._store = store
        self._config = config or HistoryConfig()
        self._lock = threading.Lock()
        self._appended = 0
        self._base = _Rate()
        self._memo: dict[BatchFeatures, float] = {}  # probabilities since the last outcome
        self._groups = {
            name: _Group(self._config.max_values) for name in ("author", "area", "size")
        }
        for outcome in store.recent(self._config.replay):
            self._learn(outcome)

    def score(self, batch: Batch) -> float:
        try:
            features = self._features_of(batch)
        except Exception as exc:
            raise ScorerError(f"cannot describe {batch.id}: {exc}") from exc
        return self.probability(features)

    def probability(self, features: BatchFeatures) -> float:
        """The learned probability that a batch with these features lands."""
        c = self._config
        with self._lock:
            known = self._memo.get(features)
            if known is not None:
                return known
            p0 = self._base.shrunk(c.prior_mean, c.prior_strength)
            p0 = min(max(p0, c.floor), c.ceiling)
            log_odds = _logit(p0)
            for name, values in _values(features).items():
                group = self._groups[name]
                log_odds += group.shift(values, p0, group.strength(c))
            p = min(max(1.0 / (1.0 + math.exp(-log_odds)), c.floor), c.ceiling)
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[features] = p
        return p

    def record(self, outcome: BatchOutcome) -> bool:
        """Persist and learn one outcome; False (and nothing learned) if it was already stored."""
        if not self._store.append(outcome):
            return False
        self._learn(outcome)
        with self._lock:
            self._appended += 1
            prune = self._appended % PRUNE_EVERY == 0
        if prune:
            self._store.prune(self._config.replay)
        return True

    def learn(self, batch: Batch, succeeded: bool, at_ms: int) -> bool:
        """Record the final fate of `batch` (the `OutcomeSink` a queue's conclude stage calls)."""
        try:
            features = self._features_of(batch)
        except Exception as exc:
            raise ScorerError(f"cannot describe {batch.id}: {exc}") from exc
        outcome = BatchOutcome(
            batch_id=batch.id, features=features, succeeded=succeeded, recorded_at_ms=at_ms
        )
        return self.record(outcome)

    def remembered_values(self) -> int:
        """Feature values currently held in memory, over all groups."""
        with self._lock:
            return sum(len(g) for g in self._groups.values())

    def _learn(self, outcome: BatchOutcome) -> None:
        window = self._config.window
        with self._lock:
            self._memo.clear()
            self._base.observe(outcome.succeeded, window)
            for name, values in _values(outcome.features).items():
                for value in values:
                    self._groups[name].observe(value, outcome.succeeded, window)


def _values(features: BatchFeatures) -> dict[str, list[str]]:
    return {
        "author": [features.author] if features.author else [],
        "area": sorted(features.areas),
        "size": [size_bucket(features.lines_changed)],
    }
