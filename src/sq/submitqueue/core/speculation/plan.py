"""`sq speculate plan`: what one speculate run would do to a snapshot given as plain data.

The run is mirrored without storage: admit `created` batches, finalize (every outcome commits),
ask the Speculator the input names (`speculator`: standard, the default, or value with its
optional `speculation_threshold` and `speculation_hysteresis`) with the given probabilities,
check its proposals. The actions are
the controller's cancellations (paths newly marked `cancelling`) followed by the accepted
proposals, in the order proposed. Verdicts (merge, fail) are not actions and are not reported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sq.submitqueue.core.speculation.check import check_proposals
from sq.submitqueue.core.speculation.finalize import finalize
from sq.submitqueue.core.speculation.plan_input import (
    PlanInput,
    PlanInputError,
    SpeculatorChoice,
    parse_plan_input,
)
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState
from sq.submitqueue.entity.path import Assumption, SpeculationPath
from sq.submitqueue.entity.pathset import PathStatus
from sq.submitqueue.entity.proposal import PathAction
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator import Speculator
from sq.submitqueue.extension.speculator.standard import StandardSpeculator
from sq.submitqueue.extension.speculator.standard.generator import RESOLVED_ASSUMPTION
from sq.submitqueue.extension.speculator.value import ValueSettings, ValueSpeculator

__all__ = ["PlanInputError", "plan"]


class _GivenScorer:
    def __init__(self, probabilities: Mapping[BatchID, float | None], default: float) -> None:
        self._probabilities = probabilities
        self._default = default

    def score(self, batch: Batch) -> float:
        return self.probability_of(batch.id)

    def probability_of(self, batch_id: BatchID) -> float:
        p = self._probabilities.get(batch_id)
        return self._default if p is None else p


def plan(snapshot: dict[str, Any]) -> dict[str, Any]:
    """The actions one speculate run would take; `PlanInputError` when the input is malformed."""
    given = parse_plan_input(snapshot)
    state = given.snapshot
    for batch in state.in_flight:
        if batch.state is BatchState.CREATED:
            state = state.with_state(batch.id, BatchState.SPECULATING)
    done = finalize(state, now_ms=0)
    scorer = _GivenScorer(given.probabilities, given.default_probability)

    actions: list[dict[str, Any]] = []
    for path_set in done.snapshot.path_sets:
        before = state.path_set(path_set.head)
        for entry in path_set.paths:
            old = before.entry(entry.id) if before else None
            if entry.status is PathStatus.CANCELLING and (
                old is None or old.status != entry.status
            ):
                score = _log_probability(entry.path, done.snapshot, scorer)
                actions.append(_action(PathAction.CANCEL, entry.path, score))

    if done.open_heads:
        proposals = _speculator(given, scorer).speculate(done.snapshot)
        for proposal in check_proposals(done.snapshot, proposals).accepted:
            ranked = proposal.ranking_score
            if ranked is None:
                ranked = _log_probability(proposal.path, done.snapshot, scorer)
            actions.append(_action(proposal.action, proposal.path, ranked))
    return {"actions": actions}


def _speculator(given: PlanInput, scorer: _GivenScorer) -> Speculator:
    tuning = given.tuning
    if tuning.speculator is SpeculatorChoice.STANDARD:
        return StandardSpeculator(
            scorer, given.budget, default_probability=given.default_probability
        )
    defaults = ValueSettings()
    settings = ValueSettings(
        budget=given.budget,
        threshold=defaults.threshold if tuning.threshold is None else tuning.threshold,
        hysteresis=defaults.hysteresis if tuning.hysteresis is None else tuning.hysteresis,
        default_probability=given.default_probability,
    )
    return ValueSpeculator(scorer, settings)


def _action(action: PathAction, path: SpeculationPath, score: float) -> dict[str, Any]:
    return {
        "action": action.value,
        "path_id": path.id,
        "head": path.head,
        "assumptions": [[d.batch, d.assumption.value] for d in path.dependencies],
        # JSON has no infinities: an impossible path has no score.
        "score": score if math.isfinite(score) else None,
    }


def _log_probability(
    path: SpeculationPath, snapshot: SpeculationSnapshot, scorer: _GivenScorer
) -> float:
    """Log-probability that the path's assumptions hold, given the facts and the probabilities."""
    total = 0.0
    for dependency in path.dependencies:
        forced = RESOLVED_ASSUMPTION.get(snapshot.state_of(dependency.batch))
        if forced is not None:
            if forced is not dependency.assumption:
                return -math.inf
            continue
        p = scorer.probability_of(dependency.batch)
        likely = p if dependency.assumption is Assumption.SUCCEEDS else 1.0 - p
        total += math.log(likely) if likely > 0.0 else -math.inf
    return total
