"""How likely each batch is to land, given the scorer's prior and what its own builds showed.

Every build of a path includes the head's change, so a passed build says the change is good
(flakes aside), and so is every change it was stacked on. A failed one says that the change or
something it was stacked on is bad. Bayes on the second: with prior `q` for the head and `b` for
everything in the build's base together, P(head good | failed) = q(1 - b) / (q(1 - b) + 1 - q);
and the same failure weighs on each change of the base in turn, with the head and the rest of
the base as the other suspects.
A dependency whose build passed is then almost certain to land, and a hedge that assumes it fails
is worth almost nothing; one whose build failed on a base that is known good is almost certainly
bad, and the hedge that assumes so is what its dependents should build.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sq.submitqueue.entity.batch import NOT_LANDED_STATES, Batch, BatchID, BatchState
from sq.submitqueue.entity.pathset import PathSet, PathStatus
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.scorer import Scorer

PROVEN_GOOD = 0.999
"""A batch whose change passed a build (or that is merging): it lands unless the merge fails."""
FLOOR = 0.001
"""Never fully certain either way: flakes and merge failures happen."""
_TINY = 1e-9
"""Floor on 1 - P(the rest of a failed build is good): a failure nothing else explains multiplies
a dependency's odds of being bad by at most 1 / _TINY, instead of dividing by zero."""

_log = logging.getLogger(__name__)


def prior(scorer: Scorer, batch: Batch | None, default: float) -> float:
    """The scorer's probability for `batch`; `default` when it is absent, fails or is invalid."""
    if batch is None:
        return default
    try:
        p = scorer.score(batch)
    except Exception:  # noqa: BLE001  (any scoring failure degrades ranking, never stops it)
        _log.warning("scorer failed for %s; using the default probability", batch.id)
        return default
    return p if 0.0 <= p <= 1.0 else default


def landing_probabilities(
    snapshot: SpeculationSnapshot, scorer: Scorer, default: float
) -> dict[BatchID, float]:
    """P(lands) of every batch a head is or depends on, in-flight ones updated by their builds.

    In-flight batches are visited in listing order, so a dependency (always listed before its
    dependents) is updated before the failed builds that were stacked on it are explained. Then
    the failed builds of its dependents are weighed against each dependency as well
    (`_blame_dependencies`).
    """
    p: dict[BatchID, float] = {}
    for batch in snapshot.batches:
        if batch.state is BatchState.SUCCEEDED:
            p[batch.id] = 1.0
        elif batch.state in NOT_LANDED_STATES:
            p[batch.id] = 0.0
    proven: set[BatchID] = set()
    for path_set in snapshot.path_sets:
        for e in path_set.paths:
            if e.status is PathStatus.PASSED:
                proven.add(path_set.head)
                proven |= e.path.split().succeeds
    for batch in snapshot.in_flight:
        if batch.id in proven or batch.state is BatchState.MERGING:
            p[batch.id] = PROVEN_GOOD
        else:
            p[batch.id] = _posterior(batch, snapshot.path_set(batch.id), p, scorer, default)
    _blame_dependencies(snapshot, p, proven)
    return p


def _blame_dependencies(
    snapshot: SpeculationSnapshot, p: dict[BatchID, float], proven: set[BatchID]
) -> None:
    """Every failed build as evidence against the dependencies it was stacked on too.

    A failed build says that at least one change it included is bad: its head, or a dependency
    it assumed lands. `_posterior` weighs that against the head only; a dependency's own builds
    may not have told yet (they ran on a base with a bad change of its own, or are still running)
    while the builds of its dependents already failed with it. Each failed build multiplies the
    odds that a dependency d in it is bad by 1 / (1 - P(everything else in the build is good)),
    the factor `_posterior` gives a head, with the others' probabilities from the first pass. A
    failure already explained by something else (a dependency known bad, a doubtful head) blames
    d little; several failed dependents that share d blame it a lot, as group testing would.
    """
    blamed: dict[BatchID, float] = {}
    for path_set in snapshot.path_sets:
        for entry in path_set.paths:
            if entry.status is not PathStatus.FAILED:
                continue
            members = (path_set.head, *entry.path.base())
            for dep in members[1:]:
                if dep in proven or not FLOOR < p.get(dep, 1.0) < PROVEN_GOOD:
                    continue  # proven good, merging, landed or failed: nothing to learn
                others = 1.0
                for m in members:
                    if m != dep:
                        others *= p.get(m, 1.0)
                blamed[dep] = blamed.get(dep, 1.0) / max(1.0 - others, _TINY)
    for dep, factor in blamed.items():
        good = p[dep]
        odds_bad = (1.0 - good) / good * factor
        p[dep] = min(max(1.0 / (1.0 + odds_bad), FLOOR), PROVEN_GOOD)


def _posterior(
    batch: Batch,
    path_set: PathSet | None,
    known: Mapping[BatchID, float],
    scorer: Scorer,
    default: float,
) -> float:
    entries = path_set.paths if path_set else ()
    q = prior(scorer, batch, default)
    for entry in entries:
        if entry.status is not PathStatus.FAILED:
            continue
        base = 1.0
        for dep in entry.path.base():
            base *= known.get(dep, default)
        good_and_failed = q * (1.0 - base)
        q = good_and_failed / (good_and_failed + 1.0 - q) if good_and_failed + 1.0 - q else 0.0
    return min(max(q, FLOOR), PROVEN_GOOD)
