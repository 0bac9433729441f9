"""analyze (phase 2, doc/stovepipe.md "Projects"): turn a whole-repository verdict into one
verdict per project, and a red commit's whole-repository degree into the fraction of projects
broken.

- Green: every project is green at the commit, with no extra build.
- Red: the projects the commit affects (`attribution`) get their own build, through build →
  buildsignal → record. If one of them fails, the breakage is attributed and the unaffected
  projects are green by attribution. If none fails, nothing explains the breakage: every other
  project is built on its own too (the plan is *widened*), and a red build no project explains
  is whole-repository degree 1.0.

The plan is stored once (`Analysis`, spec §8.15), so redeliveries decide the same way; the
delivery holds while project builds run, polling their facts.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.stovepipe import messages
from sq.stovepipe.controller.attribution import affected_projects
from sq.stovepipe.controller.cas import swap
from sq.stovepipe.controller.common import (
    InvariantError,
    about,
    load_request,
    message_of,
)
from sq.stovepipe.controller.verdict import record_fact, record_project_verdict
from sq.stovepipe.deps import Deps, QueueSetup
from sq.stovepipe.entity import (
    DEGREE_BROKEN,
    DEGREE_GREEN,
    Request,
    RequestState,
    ValidationFact,
)
from sq.stovepipe.entity.project import Analysis, AnalysisState
from sq.stovepipe.storage import AlreadyExistsError, NotFoundError


class AnalyzeController:
    name = "stovepipe-analyze"

    def __init__(self, deps: Deps, ctx: StageContext) -> None:
        self.deps = deps
        self.ctx = ctx

    async def process(self, delivery: Delivery) -> None:
        message = message_of(delivery)
        with about(message.id):
            await self._process(delivery, await load_request(self.deps, message))

    async def _process(self, delivery: Delivery, request: Request) -> None:
        setup = self.deps.queue(request.queue)
        if not setup.projects or request.state in (
            RequestState.CANCELLED,
            RequestState.SUPERSEDED,
        ):
            return
        if request.state is RequestState.SUCCEEDED:
            for project in setup.projects:
                await self._verdict(request, project.name, DEGREE_GREEN)
            return
        if request.state is not RequestState.FAILED:
            raise InvariantError(f"request {request.id} is {request.state}, not finished")
        analysis = await self._analysis(request)
        for _ in range(2):
            facts = await asyncio.to_thread(self.deps.storage.facts_at, request.queue, request.uri)
            if await self._await_builds(request, setup, analysis, facts):
                delivery.hold(self.deps.analyze_poll_s or self.deps.poll_running_s)
                return
            attributed = _attributed(setup, analysis, facts)
            if analysis.state is not AnalysisState.ATTRIBUTING or attributed:
                break
            everyone = tuple(p.name for p in setup.projects)
            if set(everyone) <= set(analysis.planned):
                break
            analysis = await self._move(analysis, everyone, AnalysisState.WIDENED)
        await self._finish(request, setup, analysis, facts)

    async def _analysis(self, request: Request) -> Analysis:
        store = self.deps.storage
        try:
            return await asyncio.to_thread(store.get_analysis, request.queue, request.id)
        except NotFoundError:
            pass
        analysis = Analysis(
            queue=request.queue,
            request_id=request.id,
            uri=request.uri,
            planned=await affected_projects(self.deps, request),
            state=AnalysisState.ATTRIBUTING,
        )
        try:
            return await asyncio.to_thread(store.create_analysis, analysis)
        except AlreadyExistsError:
            return await asyncio.to_thread(store.get_analysis, request.queue, request.id)

    async def _await_builds(
        self,
        request: Request,
        setup: QueueSetup,
        analysis: Analysis,
        facts: dict[str, ValidationFact],
    ) -> bool:
        """Start the planned project builds that have no fact yet; whether any is still due.
        A planned project with no build command cannot be judged: it fails closed."""
        waiting = False
        for name in analysis.planned:
            if name in facts:
                continue
            if not _command(setup, name):
                facts[name] = await self._verdict(request, name, DEGREE_BROKEN)
                continue
            waiting = True
            payload = messages.EntityMessage(id=request.id, queue_name=request.queue, project=name)
            await self.ctx.publish(messages.BUILD, payload.key, payload.key, payload)
        return waiting

    async def _finish(
        self,
        request: Request,
        setup: QueueSetup,
        analysis: Analysis,
        facts: dict[str, ValidationFact],
    ) -> None:
        names = [p.name for p in setup.projects]
        for name in names:
            if name not in facts:
                facts[name] = await self._verdict(request, name, DEGREE_GREEN)
        broken = sum(1 for name in names if not facts[name].is_green)
        degree = broken / len(names) if broken else DEGREE_BROKEN
        await record_fact(self.deps, self.ctx, request, degree)
        if analysis.state is not AnalysisState.DONE:
            await self._move(analysis, analysis.planned, AnalysisState.DONE)

    async def _verdict(self, request: Request, project: str, degree: float) -> ValidationFact:
        return await record_project_verdict(self.deps, self.ctx, request, project, degree)

    async def _move(
        self, analysis: Analysis, planned: tuple[str, ...], state: AnalysisState
    ) -> Analysis:
        store = self.deps.storage

        async def move(current: Analysis) -> Analysis | None:
            if current.state is AnalysisState.DONE or current.state == state:
                return None
            return replace(current, planned=planned, state=state)

        swapped = await swap(
            f"analysis of {analysis.request_id}: moving to {state}",
            lambda: store.get_analysis(analysis.queue, analysis.request_id),
            move,
            store.update_analysis,
            row=analysis,
        )
        return swapped.written or swapped.row


def _attributed(setup: QueueSetup, analysis: Analysis, facts: dict[str, ValidationFact]) -> bool:
    """Whether a planned project's own build ended broken: the breakage is explained. (A project
    with no build is broken for want of evidence, which explains nothing.)"""
    return any(
        name in facts and not facts[name].is_green and _command(setup, name)
        for name in analysis.planned
    )


def _command(setup: QueueSetup, name: str) -> str:
    return next((p.command for p in setup.projects if p.name == name), "")
