"""build: start a build for every pending path of a head (spec §4.7; never writes the path set).

Build ids are derived from `(path, attempt)`, so a trigger is idempotent at the runner and the
path-build link is write-once with one possible value: a crash between trigger and link can
neither orphan a build nor start a second one (the reference's known gap).
"""

from __future__ import annotations

from dataclasses import dataclass

from sq.platform.build import BuildRequest, TreeLayer
from sq.platform.errs import attribute
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, is_halted
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.pathset import PathEntry, PathStatus
from sq.submitqueue.entity.request import ChangeInfo
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
        pending = [e for e in path_set.paths if e.status is PathStatus.PENDING]
        if not pending:
            return
        try:
            await self._start(batch, pending)
        except Exception as exc:
            attribute(exc, batch_subject(batch.id))
            raise

    async def _start(self, head: Batch, pending: list[PathEntry]) -> None:
        """Every pending path of one head in a constant number of statements, however deep the
        paths: their links, then the trees of those not started, then one write per build."""
        storage = self.deps.storage
        linked = await db(storage.linked_builds, head.queue, [(e.id, e.attempt) for e in pending])
        todo = [e for e in pending if (e.id, e.attempt) not in linked]
        trees = await self._trees(head, todo)
        profile = self.deps.profiles.get(head.queue)
        for entry in todo:
            build_id = build_id_for(entry)
            started = await profile.runner.trigger(self._request(head, entry, build_id, trees))
            run = self.deps.runs.started(head.queue, started) if self.deps.runs else None
            build = Build(
                id=build_id,
                batch_id=head.id,
                path_id=entry.id,
                attempt=entry.attempt,
                status=BuildStatus.ACCEPTED,
            )
            await db(storage.start_build, head.queue, build, run)
            linked[(entry.id, entry.attempt)] = build_id
        for entry in pending:
            build_id = linked[(entry.id, entry.attempt)]
            await self.ctx.publish(
                m.TOPIC_BUILDSIGNAL, build_id, build_id, m.EntityRef(id=build_id, queue=head.queue)
            )

    async def _trees(self, head: Batch, entries: list[PathEntry]) -> _Trees:
        if not entries:
            return _Trees(batches={}, changes={})
        storage = self.deps.storage
        base_ids = list(dict.fromkeys(b for e in entries for b in e.path.base()))
        batches = await db(storage.get_batches, head.queue, base_ids)
        batches[head.id] = head
        ids = [
            r for b in batches.values() if b.state is not BatchState.SUCCEEDED for r in b.contains
        ]
        changes = await db(storage.changes_of_requests, head.queue, ids)
        return _Trees(batches=batches, changes=changes)

    def _request(self, head: Batch, entry: PathEntry, build_id: str, trees: _Trees) -> BuildRequest:
        """The exact tree: the target, then each change the path assumes lands that is not on the
        target yet, in queue order, then the head's changes."""
        profile = self.deps.profiles.get(head.queue)
        layers: list[TreeLayer] = []
        uris: list[str] = []
        for batch_id in (*entry.path.base(), head.id):
            batch = trees.batches.get(batch_id)
            if batch is None or batch.state is BatchState.SUCCEEDED:
                continue  # already on the target
            for request_id in batch.contains:
                for info in trees.changes.get(request_id, ()):
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


@dataclass(frozen=True, slots=True, kw_only=True)
class _Trees:
    """What the trees of a head's paths are made of: the batches and their requests' changes."""

    batches: dict[BatchID, Batch]
    changes: dict[str, list[ChangeInfo]]
