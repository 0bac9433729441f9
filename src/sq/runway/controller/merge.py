"""merge-conflict-check and runway-merge: run the merger, answer on the signal topic (spec §5.1).

Terminal verdicts (conflict, stale, invalid) are answers; infrastructure failures raise and are
retried, then answered `FAILED` by the DLQ reconciler, so every request gets exactly one answer.
"""

from __future__ import annotations

from pydantic import ValidationError

from sq.api import runway as rw
from sq.platform.errs import RetryableError, UserError
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.runway.controller.deps import RunwayDeps
from sq.runway.extension.merger import (
    Change,
    LandingCheck,
    MergeInput,
    MergeOutcome,
    MergeResult,
    Strategy,
)


def decode_request(delivery: Delivery) -> rw.MergeRequest:
    try:
        return rw.MergeRequest.model_validate(delivery.json())
    except (ValidationError, ValueError) as exc:
        raise UserError(f"malformed MergeRequest: {exc}") from exc


def _strategy(step: rw.MergeStep) -> Strategy | None:
    if step.strategy is rw.StepStrategy.DEFAULT:
        return None
    return Strategy(step.strategy.value)


class MergerController:
    def __init__(self, deps: RunwayDeps, ctx: StageContext, *, dry_run: bool) -> None:
        self.deps, self.ctx, self.dry_run = deps, ctx, dry_run
        self.name = "merge-conflict-check" if dry_run else "runway-merge"
        self.signal = rw.TOPIC_MERGE_CONFLICT_CHECK_SIGNAL if dry_run else rw.TOPIC_MERGE_SIGNAL

    async def process(self, delivery: Delivery) -> None:
        request = decode_request(delivery)
        target = self.deps.targets(request.queue_name)
        changes = _changes(request.steps)
        result = await target.merger.merge(
            MergeInput(
                id=request.id,
                queue=request.queue_name,
                repository=target.repository,
                target_ref=target.target_ref,
                strategy=target.strategy,
                changes=changes,
                base=request.base or None,
                assumed=_changes(request.assumed),
                landing_check=LandingCheck(request.landing_check.value),
                dry_run=self.dry_run,
                update_head_branches=target.update_head_branches,
            )
        )
        if not result.succeeded and not result.outcome.terminal_failure:
            raise RetryableError(f"{request.id}: {result.reason}")
        await self.ctx.publish(
            self.signal, delivery.partition_key, rw.answer_id(request), _answer(request, result)
        )


def _changes(steps: tuple[rw.MergeStep, ...]) -> tuple[Change, ...]:
    return tuple(
        Change(uri=uri, strategy=_strategy(step)) for step in steps for uri in step.change.uris
    )


def _answer(request: rw.MergeRequest, result: MergeResult) -> rw.MergeResult:
    if not result.succeeded:
        return rw.MergeResult(
            id=request.id,
            queue_name=request.queue_name,
            outcome=rw.Outcome.FAILED,
            reason=result.reason,
            outdated=result.outcome is MergeOutcome.OUTDATED,
            landing=request.landing,
        )
    landed = {c.uri: c.landed for c in result.changes}
    steps = tuple(
        rw.StepResult(
            step_id=step.step_id,
            outputs=tuple(
                rw.StepOutput(id=sha) for uri in step.change.uris for sha in landed.get(uri, ())
            ),
        )
        for step in request.steps
    )
    return rw.MergeResult(
        id=request.id,
        queue_name=request.queue_name,
        outcome=rw.Outcome.SUCCEEDED,
        reason=result.reason,
        steps=steps,
        landing=request.landing,
    )


class MergerReconciler:
    """Answers `FAILED` for a request that was dead-lettered, with an id of its own so it never
    dedups against a live answer; an undecodable request is dropped (nobody can be answered)."""

    def __init__(self, deps: RunwayDeps, ctx: StageContext, *, dry_run: bool) -> None:
        self.deps, self.ctx = deps, ctx
        self.name = ("merge-conflict-check" if dry_run else "runway-merge") + "-reconciler"
        self.signal = rw.TOPIC_MERGE_CONFLICT_CHECK_SIGNAL if dry_run else rw.TOPIC_MERGE_SIGNAL

    async def process(self, delivery: Delivery) -> None:
        try:
            request = decode_request(delivery)
        except UserError:
            return
        failure = delivery.failure
        why = (failure.message if failure else "") or delivery.metadata.get("dlq.last_error", "")
        answer = rw.MergeResult(
            id=request.id,
            queue_name=request.queue_name,
            outcome=rw.Outcome.FAILED,
            reason=f"dead-lettered: {why or 'unknown failure'}",
            landing=request.landing,
        )
        answer_id = f"{rw.answer_id(request)}/dlq"
        await self.ctx.publish(self.signal, delivery.partition_key, answer_id, answer)
