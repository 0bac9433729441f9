"""Stovepipe's topology (spec §2.0), declared once: five stages, each with its DLQ reader, and
the hook dispatcher on Stovepipe's own physical hook topic."""

from __future__ import annotations

from sq.platform.hooks import hook_stage, hook_topic_names
from sq.platform.pipeline import Stage
from sq.stovepipe import messages
from sq.stovepipe.controller.analyze import AnalyzeController
from sq.stovepipe.controller.build import BuildController
from sq.stovepipe.controller.buildsignal import BuildSignalController
from sq.stovepipe.controller.events import SOURCE
from sq.stovepipe.controller.process import ProcessController
from sq.stovepipe.controller.reconcile import (
    AnalyzeReconciler,
    BuildSignalReconciler,
    RequestReconciler,
)
from sq.stovepipe.controller.record import RecordController
from sq.stovepipe.deps import Deps

TOPIC_NAMES = hook_topic_names(SOURCE)
"""Pass to `construct(..., topic_names=TOPIC_NAMES)`: Stovepipe's hook topic is its own."""


def stages() -> list[Stage[Deps]]:
    return [
        Stage(
            key=messages.PROCESS,
            consumer_group="stovepipe-process",
            new=ProcessController,
            dlq=RequestReconciler,
            # One delivery per partition (= queue) at a time makes the gate race-free (§8.23).
            config={"batch_size": 1},
        ),
        Stage(
            key=messages.BUILD,
            consumer_group="stovepipe-build",
            new=BuildController,
            dlq=RequestReconciler,
        ),
        Stage(
            key=messages.BUILDSIGNAL,
            consumer_group="stovepipe-buildsignal",
            new=BuildSignalController,
            dlq=BuildSignalReconciler,
        ),
        Stage(
            key=messages.RECORD,
            consumer_group="stovepipe-record",
            new=RecordController,
            dlq=RecordController,
        ),
        Stage(
            key=messages.ANALYZE,
            consumer_group="stovepipe-analyze",
            new=AnalyzeController,
            dlq=AnalyzeReconciler,
        ),
        hook_stage(consumer_group="stovepipe-hook", hooks=lambda deps: deps.hooks),
    ]
