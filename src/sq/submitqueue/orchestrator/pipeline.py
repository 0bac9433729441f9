"""The orchestrator's stage table: every topic it consumes, its controller and DLQ reconciler."""

from __future__ import annotations

from sq.api import runway as rw
from sq.platform.hooks import hook_stage, hook_topic_names
from sq.platform.pipeline import Factory, Stage
from sq.submitqueue.core import messages as m
from sq.submitqueue.orchestrator.controller import dlq
from sq.submitqueue.orchestrator.controller.batch import BatchController
from sq.submitqueue.orchestrator.controller.build import BuildController
from sq.submitqueue.orchestrator.controller.buildsignal import BuildSignalController
from sq.submitqueue.orchestrator.controller.cancel import CancelController
from sq.submitqueue.orchestrator.controller.conclude import ConcludeController
from sq.submitqueue.orchestrator.controller.control import ControlController, ControlReconciler
from sq.submitqueue.orchestrator.controller.dependencyanalysis import (
    DependencyAnalysisController,
)
from sq.submitqueue.orchestrator.controller.hooks import SOURCE
from sq.submitqueue.orchestrator.controller.merge import MergeController
from sq.submitqueue.orchestrator.controller.mergeconflictsignal import (
    MergeConflictSignalController,
)
from sq.submitqueue.orchestrator.controller.mergesignal import MergeSignalController
from sq.submitqueue.orchestrator.controller.speculate import SpeculateController
from sq.submitqueue.orchestrator.controller.start import StartController
from sq.submitqueue.orchestrator.controller.validate import ValidateController
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

GROUP = "orchestrator"

PUBLISH_ONLY = (m.TOPIC_LOG, rw.TOPIC_MERGE_CONFLICT_CHECK, rw.TOPIC_RUNWAY_MERGE)

TOPIC_NAMES = hook_topic_names(SOURCE)
"""SubmitQueue's own physical hook topic, apart from any other domain's on a shared queue."""


def _stage(
    key: str, new: Factory[OrchestratorDeps], reconcile: Factory[OrchestratorDeps]
) -> Stage[OrchestratorDeps]:
    return Stage(key=key, consumer_group=GROUP, new=new, dlq=reconcile)


STAGES: tuple[Stage[OrchestratorDeps], ...] = (
    _stage(m.TOPIC_START, StartController, dlq.StartReconciler),
    _stage(m.TOPIC_CANCEL, CancelController, dlq.request_reconciler(m.CancelRequest)),
    _stage(m.TOPIC_VALIDATE, ValidateController, dlq.request_reconciler(m.EntityRef)),
    _stage(
        rw.TOPIC_MERGE_CONFLICT_CHECK_SIGNAL,
        MergeConflictSignalController,
        dlq.request_reconciler(rw.MergeResult, direct=True),
    ),
    _stage(m.TOPIC_BATCH, BatchController, dlq.formation_reconciler()),
    _stage(
        m.TOPIC_DEPENDENCY_ANALYSIS,
        DependencyAnalysisController,
        dlq.batch_reconciler(m.EntityRef),
    ),
    _stage(
        m.TOPIC_SPECULATE,
        SpeculateController,
        lambda d, c: dlq.SpeculateReconciler("speculate-reconciler", d, c),
    ),
    _stage(m.TOPIC_BUILD, BuildController, dlq.batch_reconciler(m.EntityRef)),
    _stage(
        m.TOPIC_BUILDSIGNAL,
        BuildSignalController,
        lambda d, c: dlq.BuildSignalReconciler("buildsignal-reconciler", d, c),
    ),
    _stage(m.TOPIC_MERGE, MergeController, dlq.batch_reconciler(m.EntityRef)),
    _stage(rw.TOPIC_MERGE_SIGNAL, MergeSignalController, dlq.batch_reconciler(rw.MergeResult)),
    _stage(m.TOPIC_CONCLUDE, ConcludeController, dlq.batch_reconciler(m.EntityRef)),
    _stage(m.TOPIC_CONTROL, ControlController, ControlReconciler),
    hook_stage(consumer_group=f"{GROUP}-hook", hooks=lambda deps: deps.hooks),
)
