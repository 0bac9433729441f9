"""DLQ reconcilers (spec §2.6): a request that cannot finish fails closed — `failed`, not green —
and gives its slot back, so one poison request never wedges its queue. A project build that
cannot finish fails its project closed (a broken project fact), which lets analyze finish; an
analysis that cannot finish records every project it has not judged as broken.

Every error here is retried (the pipeline runs DLQ readers with always-retry). `record_dlq` is read
by the record controller itself: recovering a fact is a replay, not a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import replace

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe import messages
from sq.stovepipe.controller.common import log, message_of, release_slot
from sq.stovepipe.controller.verdict import record_fact, record_project_verdict
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import DEGREE_BROKEN, FailureReason, Request, RequestState
from sq.stovepipe.entity.project import AnalysisState
from sq.stovepipe.storage import NotFoundError, VersionMismatchError


async def _request(deps: Deps, queue: str, rid: str) -> Request | None:
    try:
        return await asyncio.to_thread(deps.storage.get_request, queue, rid)
    except NotFoundError:
        log.warning("nothing to reconcile: no such request", request=rid)
        return None


async def fail_request(deps: Deps, queue: str, rid: str) -> RequestState | None:
    """Force `failed` from `accepted`/`processing`; returns the state the request ended in."""
    request = await _request(deps, queue, rid)
    if request is None:
        return None
    if request.state.is_terminal:
        return request.state
    if request.state is RequestState.PROCESSING:
        await release_slot(deps, queue)
    failed = replace(request, state=RequestState.FAILED, failure_reason=FailureReason.RECONCILED)
    await asyncio.to_thread(deps.storage.update_request, failed)
    log.warning("request failed closed", request=rid)
    return RequestState.FAILED


async def fail_project(deps: Deps, ctx: StageContext, queue: str, rid: str, project: str) -> None:
    request = await _request(deps, queue, rid)
    if request is not None and request.state.has_build_outcome:
        await record_project_verdict(deps, ctx, request, project, DEGREE_BROKEN)
        log.warning("project failed closed", request=rid, project=project)


class RequestReconciler:
    """process_dlq and build_dlq: the payload names the request (and, for a project build, the
    project)."""

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx
        self.name = ctx.consumer_group

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        if message.project:
            await fail_project(self.deps, self.ctx, message.queue_name, message.id, message.project)
            return
        await fail_request(self.deps, message.queue_name, message.id)


class BuildSignalReconciler:
    """buildsignal_dlq: the payload names a build; its request (or project) fails closed.

    A build that already has its outcome gets `record` again instead (spec §8.11: a lost record
    publish would otherwise lose the fact)."""

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx
        self.name = ctx.consumer_group

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        try:
            build = await asyncio.to_thread(
                self.deps.storage.get_build, message.queue_name, message.id
            )
        except NotFoundError:
            return  # crashed before the row: build_dlq covers the request
        if not build.request_id:
            return
        if build.project and not build.status.is_terminal:
            await fail_project(self.deps, self.ctx, build.queue, build.request_id, build.project)
            return
        if not build.project:
            state = await fail_request(self.deps, build.queue, build.request_id)
            if state is None or not state.has_build_outcome:
                return
        payload = messages.EntityMessage(
            id=build.request_id, queue_name=build.queue, project=build.project
        )
        await self.ctx.publish(messages.RECORD, build.request_id, payload.key, payload)


class AnalyzeReconciler:
    """analyze_dlq: every project with no fact at the commit is broken, and a red request's
    whole-repository fact (if analyze never wrote it) is fully broken."""

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx
        self.name = ctx.consumer_group

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        request = await _request(self.deps, message.queue_name, message.id)
        if request is None or request.state not in (RequestState.SUCCEEDED, RequestState.FAILED):
            return
        store = self.deps.storage
        facts = await asyncio.to_thread(store.facts_at, request.queue, request.uri)
        for project in self.deps.queue(request.queue).projects:
            if project.name not in facts:
                await record_project_verdict(
                    self.deps, self.ctx, request, project.name, DEGREE_BROKEN
                )
        if request.state is RequestState.FAILED and "" not in facts:
            await record_fact(self.deps, self.ctx, request, DEGREE_BROKEN)
        log.warning("analysis failed closed", request=request.id)
        with contextlib.suppress(NotFoundError, VersionMismatchError):
            analysis = await asyncio.to_thread(store.get_analysis, request.queue, request.id)
            if analysis.state is not AnalysisState.DONE:
                done = replace(analysis, state=AnalysisState.DONE)
                await asyncio.to_thread(store.update_analysis, done)
