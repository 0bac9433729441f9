"""buildsignal: poll one build until it finishes, stopping it once unwanted (spec §4.8)."""

from __future__ import annotations

import structlog

from sq.platform.build import BuildState, UnknownBuildError
from sq.platform.build import BuildStatus as RunnerStatus
from sq.platform.errs import attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, is_halted
from sq.submitqueue.entity.build import Build, BuildStatus, is_build_terminal, lost_with_runner
from sq.submitqueue.entity.pathset import PathStatus
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    batch_subject,
    db,
    decode,
    load_batch,
)
from sq.submitqueue.orchestrator.controller.speculate_schedule import wake_speculate
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

log = structlog.get_logger("sq.orchestrator.buildsignal")

LOG_TAIL_LINES = 20
LOG_TAIL_CHARS = 2000

_STATUS = {
    BuildState.PENDING: BuildStatus.ACCEPTED,
    BuildState.RUNNING: BuildStatus.RUNNING,
    BuildState.PASSED: BuildStatus.SUCCEEDED,
    BuildState.FAILED: BuildStatus.FAILED,
    BuildState.CANCELLED: BuildStatus.CANCELLED,
    # The runner could not build the tree (it does not apply, say): no future for this path.
    BuildState.ERROR: BuildStatus.FAILED,
}


def _status_of(state: BuildState, reason: str) -> BuildStatus:
    return BuildStatus.LOST if lost_with_runner(state, reason) else _STATUS[state]


_UNSEEN = (BuildStatus.UNKNOWN, BuildStatus.ACCEPTED)
"""Stored statuses of a build no observation has been stored for (`building` not logged yet)."""


class BuildSignalController:
    name = "buildsignal"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        build = await db(self.deps.storage.get_build, ref.queue, ref.id)
        if build is None:
            return
        batch = await load_batch(self.deps, ref.queue, build.batch_id)
        runner = self.deps.profiles.get(batch.queue).runner
        try:
            # A stored verdict stands: the speculate run may have acted on it already.
            finished = is_build_terminal(build.status)
            status = build.status if finished else await self._observe(build, batch)
        except Exception as exc:
            attribute(exc, batch_subject(batch.id))
            raise
        if not is_build_terminal(status) and await self._unwanted(build, batch):
            try:
                stopped = await runner.cancel(build.id)
                status = _status_of(stopped.state, stopped.reason)
            except UnknownBuildError:
                if self.deps.runs is not None:  # its owner stops it at its next heartbeat
                    await db(self.deps.storage.request_cancel, batch.queue, build.id)
            except Exception:
                log.warning("cancel failed", build=build.id, exc_info=True)
        if status is not build.status:
            meta = {
                "batch_id": batch.id,
                "build_id": build.id,
                "path_id": build.path_id,
                "attempt": str(build.attempt),
            }
            # One message per request for what this observation logs (`building`, then how it
            # ended), published before the status is stored: a redelivery logs it again.
            logged = self.log.bundle()
            failed: dict[str, str] = {}
            if status is BuildStatus.FAILED:
                failed = {**meta, "log_tail": await self._log_tail(build, batch)}
            for request_id in batch.contains:
                if build.status in _UNSEEN:  # else logged with the status stored before
                    logged.event(
                        request_id, batch.queue, "building", occurrence=build.id, metadata=meta
                    )
                if status is BuildStatus.SUCCEEDED:
                    logged.event(
                        request_id, batch.queue, "built", occurrence=build.id, metadata=meta
                    )
                if status is BuildStatus.FAILED:
                    logged.event(
                        request_id,
                        batch.queue,
                        "build-failed",
                        occurrence=build.id,
                        metadata=failed,
                    )
            await logged.flush()
            await db(self.deps.storage.set_build_status, batch.queue, build.id, status)
        if status is not build.status or delivery.attempt > 1:
            # A retry may follow a failure between storing the status and waking the queue.
            await wake_speculate(self.deps, self.ctx, batch.queue)
        if not is_build_terminal(status):
            delivery.hold(self._poll_s(batch.queue, status))

    def _poll_s(self, queue: str, status: BuildStatus) -> float:
        """When to look again: soon while the build is starting; while it runs, soon only if
        nobody tells this stage its end (external CI), else as a backstop. A build the speculate
        run stops is signalled at once (`cancel_signals`), not found by the poll."""
        if status is not BuildStatus.RUNNING:
            return self.deps.build_poll_other_s
        if self.deps.profiles.get(queue).reports_end:
            return self.deps.build_backstop_s
        return self.deps.build_poll_running_s

    async def _observe(self, build: Build, batch: Batch) -> BuildStatus:
        runs = self.deps.runs
        run = None
        if runs is not None:
            run = await db(self.deps.storage.get_run, batch.queue, build.id)
            if run is not None and run.state.finished:
                return _status_of(run.state, run.reason)
        runner = self.deps.profiles.get(batch.queue).runner
        try:
            seen: RunnerStatus = await runner.status(build.id)
        except UnknownBuildError:
            if runs is None or run is None:
                # Its runner is gone (a restart, a killed process): speculate builds the path
                # again, never counting it as a failure or against its retry cap.
                return BuildStatus.LOST
            if not runs.alive(run):
                # Its owner is silent: dead, or only slow. Recorded on the run, so that a late
                # verdict from a slow owner cannot overturn the one the queue acts on.
                if await db(self.deps.storage.presume_lost, run):
                    return BuildStatus.LOST
                # The owner spoke up meanwhile (a heartbeat, its verdict) or another took it over.
                run = await db(self.deps.storage.get_run, batch.queue, build.id)
                if run is None:
                    return BuildStatus.LOST
            return _status_of(run.state, run.reason)  # another instance runs it
        return _status_of(seen.state, seen.reason)

    async def _log_tail(self, build: Build, batch: Batch) -> str:
        """The end of a failed build's log, for the request's history (the whole log is at
        `GET /api/v1/builds/log`)."""
        try:
            text = await self.deps.profiles.get(batch.queue).runner.log(build.id)
        except Exception:  # a missing log must not hold up the verdict
            log.warning("build log unreadable", build=build.id, exc_info=True)
            return ""
        lines = text.rstrip("\n").splitlines()[-LOG_TAIL_LINES:]
        return "\n".join(lines)[-LOG_TAIL_CHARS:]

    async def _unwanted(self, build: Build, batch: Batch) -> bool:
        if is_halted(batch.state):
            return True
        path_set = await db(self.deps.storage.get_path_set, batch.queue, batch.id)
        entry = path_set.entry(build.path_id) if path_set else None
        if entry is None:
            return False
        if entry.status in (PathStatus.CANCELLING, PathStatus.CANCELLED):
            return True
        return entry.attempt != build.attempt
