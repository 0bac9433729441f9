"""The Scorer seam: how likely a batch is to land (submitqueue-spec §6.7, speculation-spec §4.3)."""

from __future__ import annotations

from typing import Protocol

from sq.submitqueue.entity.batch import Batch


class ScorerError(Exception):
    """A scorer could not produce a probability for a batch.

    The best-first generator absorbs it and ranks the batch with its default probability, so a
    scoring outage degrades ranking instead of stopping the queue.
    """


class Scorer(Protocol):
    """Estimates the probability that a batch ultimately succeeds (lands).

    `score` returns a float in [0, 1]. It is called at most once per batch per speculate run, from
    a worker thread (it may block on storage). It raises `ScorerError` when it cannot tell; a value
    outside [0, 1] (or NaN) is treated by callers like an error. It must not mutate the batch.
    """

    def score(self, batch: Batch) -> float: ...


def check_probability(value: float, what: str = "probability") -> float:
    """`value` if it lies in [0, 1], else ValueError (NaN is rejected too)."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{what} must be within [0, 1], got {value!r}")
    return value
