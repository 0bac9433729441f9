"""Stovepipe's topology (spec §2.0), declared once: four stages, each with its DLQ reader."""

from __future__ import annotations

from sq.platform.pipeline import Stage
from sq.stovepipe import messages
from sq.stovepipe.controller.build import BuildController
from sq.stovepipe.controller.buildsignal import BuildSignalController
from sq.stovepipe.controller.process import ProcessController
from sq.stovepipe.controller.reconcile import BuildSignalReconciler, RequestReconciler
from sq.stovepipe.controller.record import RecordController
from sq.stovepipe.deps import Deps


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
    ]
