"""Runway's stage table."""

from __future__ import annotations

from sq.api import runway as rw
from sq.platform.pipeline import Stage
from sq.runway.controller.deps import RunwayDeps
from sq.runway.controller.merge import MergerController, MergerReconciler

GROUP_CHECK = "runway-mergeconflictcheck"
GROUP_MERGE = "runway-merge"

PUBLISH_ONLY = (rw.TOPIC_MERGE_CONFLICT_CHECK_SIGNAL, rw.TOPIC_MERGE_SIGNAL)

STAGES: tuple[Stage[RunwayDeps], ...] = (
    Stage(
        key=rw.TOPIC_MERGE_CONFLICT_CHECK,
        consumer_group=GROUP_CHECK,
        new=lambda d, c: MergerController(d, c, dry_run=True),
        dlq=lambda d, c: MergerReconciler(d, c, dry_run=True),
    ),
    Stage(
        key=rw.TOPIC_RUNWAY_MERGE,
        consumer_group=GROUP_MERGE,
        new=lambda d, c: MergerController(d, c, dry_run=False),
        dlq=lambda d, c: MergerReconciler(d, c, dry_run=False),
    ),
)
