"""buildsignal (spec §2.4): poll the build by holding its delivery; at a terminal status give the
queue its slot back, stamp the request's outcome (first writer wins) and hand it to `record`.
A project build (phase 2) holds no slot and leaves the finished request alone: its outcome goes
to `record` for the project.

A build still unfinished after the queue's `max_validation_ms` fails closed (spec §8.5). With
build runs (`deps.runs`), any instance concludes any build from the run recorded in the database,
and a build whose runner is gone (its process died: a stale heartbeat; or it stopped the build
unasked) is triggered again under the same id by the instance polling it, never failed. Without
them, a build the runner forgot (a restart) is triggered again the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from sq.platform import build as runner
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe import messages
from sq.stovepipe.controller.cas import swap
from sq.stovepipe.controller.common import (
    about,
    check_queue,
    log,
    message_of,
    release_slot,
)
from sq.stovepipe.controller.trigger import STATUS_OF, trigger
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import Build, BuildStatus, FailureReason, Request, RequestState
from sq.stovepipe.entity.run import BuildRun


def _lost(run: BuildRun) -> bool:
    """A cancellation nobody asked for: the runner stopped (its process shut down) without a
    verdict on the code, so the build is run again, never concluded as failed or cancelled."""
    return run.state is runner.BuildState.CANCELLED and not run.cancel_requested


OUTCOME = {
    BuildStatus.SUCCEEDED: RequestState.SUCCEEDED,
    BuildStatus.CANCELLED: RequestState.CANCELLED,
}


class BuildSignalController:
    name = "stovepipe-buildsignal"

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        store = self.deps.storage
        build = await asyncio.to_thread(store.get_build, message.queue_name, message.id)
        with about(build.request_id):
            request = await asyncio.to_thread(store.get_request, build.queue, build.request_id)
            check_queue(message, request)
            await self._process(delivery, build, request)

    async def _process(self, delivery: Delivery, build: Build, request: Request) -> None:
        if not (request.state is RequestState.PROCESSING or request.state.has_build_outcome):
            return
        polled, reason = await self._poll(build, request)
        effective = build.status
        changed = polled not in (BuildStatus.UNKNOWN, build.status)
        if changed and not build.status.is_terminal:
            failure = reason if polled is BuildStatus.FAILED else FailureReason.NONE
            written = replace(build, status=polled, failure_reason=failure)
            await asyncio.to_thread(self.deps.storage.update_build, written)
            effective = polled
        if not effective.is_terminal:
            running = effective is BuildStatus.RUNNING
            delivery.hold(self.deps.poll_running_s if running else self.deps.poll_accepted_s)
            return
        if not build.project and not request.state.has_build_outcome:
            await release_slot(self.deps, request.queue)
            await self._stamp(request, effective, reason)
        payload = messages.EntityMessage(
            id=request.id, queue_name=request.queue, project=build.project
        )
        await self.ctx.publish(messages.RECORD, request.id, payload.key, payload)

    async def _poll(self, build: Build, request: Request) -> tuple[BuildStatus, FailureReason]:
        if build.status.is_terminal:
            return build.status, build.failure_reason or FailureReason.BUILD_FAILED
        setup = self.deps.queue(request.queue)
        age_ms = self.deps.clock.now_ms() - build.created_at_ms
        if setup.max_validation_ms > 0 and age_ms > setup.max_validation_ms:
            log.warning("build passed its deadline; failing closed", build=build.id)
            await self._cancel(build)
            return BuildStatus.FAILED, FailureReason.DEADLINE
        status = await self._observe(build, request)
        if status is None:
            return BuildStatus.UNKNOWN, FailureReason.NONE
        if status.state is runner.BuildState.ERROR:
            return BuildStatus.FAILED, FailureReason.BUILD_ERROR
        return STATUS_OF[status.state], FailureReason.BUILD_FAILED

    async def _observe(self, build: Build, request: Request) -> runner.BuildStatus | None:
        """The build's runner state: its recorded verdict, else its owner's word while the owner
        lives, else this instance's runner, which builds it again when the runner that ran it is
        gone (a process that died, a cancellation nobody asked for), taking the run over. None:
        unknown, and the request needs no build any more."""
        runs = self.deps.runs
        run = None
        if runs is not None:
            run = await asyncio.to_thread(self.deps.storage.get_run, build.queue, build.id)
        if run is not None and runs is not None:
            if run.state.finished and not _lost(run):
                return runner.BuildStatus(build_id=build.id, state=run.state, reason=run.reason)
            if not run.state.finished and not runs.mine(run) and runs.alive(run):
                return runner.BuildStatus(build_id=build.id, state=run.state)
        try:
            status = await self.deps.runner_for(request.queue).status(build.id)
        except runner.UnknownBuildError:
            if not build.project and request.state is not RequestState.PROCESSING:
                return None
            owner = run.owner if run is not None else "this instance"
            log.info("runner lost the build; triggering it again", build=build.id, owner=owner)
            return await trigger(self.deps, request, build.project)
        if runs is not None:
            await runs.conclude(build.queue, status)
        return status

    async def _cancel(self, build: Build) -> None:
        with contextlib.suppress(Exception):
            try:
                await self.deps.runner_for(build.queue).cancel(build.id)
            except runner.UnknownBuildError:
                if self.deps.runs is not None:  # its owner stops it at its next heartbeat
                    await asyncio.to_thread(self.deps.storage.request_cancel, build.queue, build.id)

    async def _stamp(self, request: Request, status: BuildStatus, reason: FailureReason) -> None:
        state = OUTCOME.get(status, RequestState.FAILED)
        failure = reason if state is RequestState.FAILED else FailureReason.NONE
        store = self.deps.storage

        async def stamp(current: Request) -> Request | None:
            if current.state is not RequestState.PROCESSING:
                return None  # first writer wins (a reconciler or a duplicate build)
            return replace(current, state=state, failure_reason=failure)

        await swap(
            f"request {request.id}: stamping its outcome",
            lambda: store.get_request(request.queue, request.id),
            stamp,
            store.update_request,
            row=request,
        )
