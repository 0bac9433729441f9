"""How a Request becomes a call to the shared BuildRunner (platform/build).

The build id is derived from the request (and the project, for a project-scoped build), so a
redelivered `build` (or a re-trigger after the runner lost the build in a restart) names the same
build instead of starting a second one.
"""

from __future__ import annotations

import hashlib
import re

from sq.platform import build as runner
from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import WHOLE_REPO, BuildStatus, BuildStrategy, Request

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

STATUS_OF = {
    runner.BuildState.PENDING: BuildStatus.ACCEPTED,
    runner.BuildState.RUNNING: BuildStatus.RUNNING,
    runner.BuildState.PASSED: BuildStatus.SUCCEEDED,
    runner.BuildState.FAILED: BuildStatus.FAILED,
    runner.BuildState.CANCELLED: BuildStatus.CANCELLED,
    runner.BuildState.ERROR: BuildStatus.FAILED,
}


def build_id_for(request: Request, project: str = WHOLE_REPO) -> str:
    scope = f"{request.id}#{project}" if project else request.id
    digest = hashlib.sha256(scope.encode()).hexdigest()[:8]
    suffix = f"-{_UNSAFE.sub('-', project)}" if project else ""
    return f"sp-{_UNSAFE.sub('-', request.id)}{suffix}-{digest}"


async def trigger(deps: Deps, request: Request, project: str = WHOLE_REPO) -> runner.BuildStatus:
    """Start the request's build, or its project-scoped build: the project's own command, in the
    same tree, as a full build (no baseline)."""
    setup = deps.queue(request.queue)
    sc = deps.source_control.for_queue(request.queue)
    incremental = request.build_strategy is BuildStrategy.INCREMENTAL and bool(request.base_uri)
    command = setup.full_command
    if project:
        command, incremental = setup.project(project).command, False
    elif incremental and setup.incremental_command:
        command = setup.incremental_command
    labels = {"queue": request.queue, "stovepipe.request": request.id, "uris": request.uri}
    if project:
        labels["stovepipe.project"] = project
    spec = runner.BuildRequest(
        build_id=build_id_for(request, project),
        repository=setup.repository,
        base=await sc.revision(request.uri),
        layers=(),
        command=command,
        baseline=await sc.revision(request.base_uri) if incremental else None,
        labels=labels,
        timeout_s=setup.build_timeout_s,
    )
    status = await deps.runner_for(request.queue).trigger(spec)
    if deps.runs is not None:
        await deps.runs.started(request.queue, status)
    return status
