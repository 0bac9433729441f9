"""Which projects a red commit affects (phase 2): a project is affected unless it was green at an
ancestor of the commit and nothing it owns changed since.

Per project, the range starts at the project's own last green, so a change that landed in a
commit nobody validated (superseded) still counts against the projects it touched.
"""

from __future__ import annotations

import asyncio

from sq.stovepipe.deps import Deps
from sq.stovepipe.entity import Request
from sq.stovepipe.extension.projectmapper import ProjectMapper
from sq.stovepipe.extension.sourcecontrol import NotFoundError, SourceControl


async def affected_projects(deps: Deps, request: Request) -> tuple[str, ...]:
    """The configured projects that need their own build to be judged at `request.uri`."""
    setup = deps.queue(request.queue)
    mapper = deps.mapper_for(request.queue)
    sc = deps.source_control.for_queue(request.queue)
    heads = await asyncio.to_thread(deps.storage.project_heads, request.queue)
    touched_since: dict[str, frozenset[str] | None] = {}
    affected = []
    for project in setup.projects:
        head = heads.get(project.name)
        base = head.last_green_uri if head is not None else ""
        if base == request.uri:
            continue
        if base not in touched_since:
            touched_since[base] = await _touched(sc, mapper, base, request.uri)
        touched = touched_since[base]
        if touched is None or project.name in touched:
            affected.append(project.name)
    return tuple(affected)


async def _touched(
    sc: SourceControl, mapper: ProjectMapper | None, base: str, uri: str
) -> frozenset[str] | None:
    """The projects owning a path changed between `base` and `uri`; None when `base` is no
    ancestor of `uri` (never green, a history rewrite, an unknown commit): then every one is."""
    if not base or mapper is None:
        return None
    try:
        if not await sc.is_ancestor(base, uri):
            return None
        return mapper.affected(await sc.changed_paths(base, uri))
    except NotFoundError:
        return None
