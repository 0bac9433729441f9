"""build: start a build for every pending path of a head (spec §4.7; never writes the path set).

Build ids are derived from `(path, attempt)`, so a trigger is idempotent at the runner and the
path-build link is write-once with one possible value: a crash between trigger and link can
neither orphan a build nor start a second one (the reference's known gap).
"""

from __future__ import annotations

from sq.platform.build import BuildRequest, TreeLayer
from sq.platform.errs import attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchState, is_halted
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.pathset import PathEntry, PathStatus
from sq.submitqueue.orchestrator.controller.common import batch_subject, db, decode, load_batch
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


def build_id_for(entry: PathEntry) -> BuildID:
    return BuildID(f"{entry.path.head}/{entry.id[:16]}/{entry.attempt}")


class BuildController:
    name = "build"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx = deps, ctx

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        batch = await load_batch(self.deps, ref.queue, ref.id)
        path_set = await db(self.deps.storage.get_path_set, batch.queue, batch.id)
        if path_set is None or is_halted(batch.state):
            return
        for entry in path_set.paths:
            if entry.status is PathStatus.PENDING:
                try:
                    await self._start(batch, entry)
                except Exception as exc:
                    attribute(exc, batch_subject(batch.id))
                    raise

    async def _start(self, head: Batch, entry: PathEntry) -> None:
        storage = self.deps.storage
        build_id = build_id_for(entry)
        linked = await db(storage.linked_build, head.queue, entry.id, entry.attempt)
        if linked is None:
            profile = self.deps.profiles.get(head.queue)
            started = await profile.runner.trigger(await self._request(head, entry, build_id))
            if self.deps.runs is not None:
                await self.deps.runs.started(head.queue, started)
            build = Build(
                id=build_id,
                batch_id=head.id,
                path_id=entry.id,
                attempt=entry.attempt,
                status=BuildStatus.ACCEPTED,
            )
            await db(storage.create_build, head.queue, build)
            await db(storage.link_build, head.queue, entry.id, entry.attempt, build_id)
            linked = build_id
        await self.ctx.publish(
            m.TOPIC_BUILDSIGNAL, linked, linked, m.EntityRef(id=linked, queue=head.queue)
        )

    async def _request(self, head: Batch, entry: PathEntry, build_id: str) -> BuildRequest:
        """The exact tree: the target, then each change the path assumes lands that is not on the
        target yet, in queue order, then the head's changes."""
        storage = self.deps.storage
        profile = self.deps.profiles.get(head.queue)
        bases = await db(storage.get_batches, head.queue, entry.path.base())
        layers: list[TreeLayer] = []
        uris: list[str] = []
        for batch_id in (*entry.path.base(), head.id):
            batch = head if batch_id == head.id else bases.get(batch_id)
            if batch is None or batch.state is BatchState.SUCCEEDED:
                continue  # already on the target
            for request_id in batch.contains:
                request = await db(storage.get_request, head.queue, request_id)
                if request is None:
                    continue
                for info in await db(storage.changes_of, request):
                    layers.append(TreeLayer(name=info.uri, commits=info.commits))
                    if batch_id == head.id:
                        uris.append(info.uri)
        return BuildRequest(
            build_id=build_id,
            repository=profile.repository,
            base=profile.target,
            layers=tuple(layers),
            command=profile.build_command,
            labels={"queue": head.queue, "head": head.id, "uris": " ".join(uris)},
            timeout_s=profile.build_timeout_s,
        )
