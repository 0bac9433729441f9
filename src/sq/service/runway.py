"""Wiring of runway: a merger and a target per configured queue, and its pipeline."""

from __future__ import annotations

from pathlib import Path

from sq.platform.errs import UserError
from sq.platform.pipeline import construct
from sq.runway.controller.deps import RunwayDeps, RunwayTarget
from sq.runway.extension.merger import Strategy
from sq.runway.extension.merger.git import GitMerger
from sq.runway.extension.merger.noop import NoopMerger
from sq.runway.pipeline import PUBLISH_ONLY, STAGES
from sq.service.github.clients import register_git_token
from sq.service.runtime import Runtime, ServiceParts, register
from sq.service.settings_submitqueue import QueueConfig

NO_REPOSITORY = ("fake", "twin")
"""Providers whose changes are in no repository: runway's landings of them are no-ops."""


def targets_for(queues: list[QueueConfig], data_dir: Path) -> dict[str, RunwayTarget]:
    for q in queues:
        if q.provider == "github":
            register_git_token(q)  # fetches of refs/pull/N/head and the landing push
    noop = NoopMerger()
    git = GitMerger(workspace_dir=data_dir / "runway" / "workspaces")
    return {
        q.name: RunwayTarget(
            merger=noop if q.provider in NO_REPOSITORY else git,
            repository=q.repository,
            target_ref=q.target,
            strategy=Strategy(q.strategy.value),
            update_head_branches=q.provider not in NO_REPOSITORY,
        )
        for q in queues
    }


@register("runway")
def build_runway(runtime: Runtime) -> ServiceParts:
    targets = targets_for(runtime.settings.submitqueue.queues, runtime.settings.data_dir.resolve())

    def target(queue: str) -> RunwayTarget:
        try:
            return targets[queue]
        except KeyError:
            raise UserError(f"runway does not serve queue {queue!r}") from None

    pipeline = construct(
        runtime.queue,
        RunwayDeps(targets=target),
        STAGES,
        publish_only=PUBLISH_ONLY,
        gate=runtime.gate,
        base_config=runtime.settings.mq.subscription_overrides(),
    )
    return ServiceParts(name="runway", components=[pipeline])
