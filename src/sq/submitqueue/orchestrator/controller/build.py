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
from sq.platform.publish import intent_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchID, BatchState, RequestID, is_halted
from sq.submitqueue.entity.build import Build, BuildID, BuildStatus
from sq.submitqueue.entity.pathset import PathEntry, PathSet, PathStatus
from sq.submitqueue.entity.request import ChangeInfo
from sq.submitqueue.orchestrator.controller.common import batch_subject, db, decode, load_batch
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


def build_id_for(entry: PathEntry) -> BuildID:
    return BuildID(f"{entry.path.head}/{entry.id[:16]}/{entry.attempt}")


def signal_partition(build_id: str) -> str:
    """The partition of a build's out-of-turn signals (its end, its stop): not the build's own,
    which its poll holds until the poll is next due."""
    return f"{build_id}#end"


def cancel_signals(path_set: PathSet, *, halted: bool = False) -> list[tuple[str, str]]:
    """(build id, message id) of a signal for every build of `path_set` the run wants stopped
    (a `cancelling` path, or any live one of a `halted` head), so that buildsignal stops it now,
    not at its next poll."""
    stop = _HALTED_STOPS if halted else _STOPS
    return [
        (build_id, intent_id(build_id, "stop"))
        for entry in path_set.paths
        if entry.status in stop
        for build_id in (build_id_for(entry),)
    ]


_STOPS = frozenset({PathStatus.CANCELLING})
_HALTED_STOPS = frozenset({PathStatus.CANCELLING, PathStatus.BUILDING, PathStatus.PENDING})


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
        building = [e for e in path_set.paths if e.status is PathStatus.BUILDING]
        try:
            if pending:
                await self._start(batch, pending)
            if building:
                await self._signal_started(batch, building)
        except Exception as exc:
            attribute(exc, batch_subject(batch.id))
            raise

    async def _signal_started(self, head: Batch, building: list[PathEntry]) -> None:
        """The build signal of each entry already `building`, again (its id dedups). A process
        that died between linking a build and publishing its signal left it to the redelivery
        of this message; a speculate run that saw the link meanwhile moved the entry from
        `pending` to `building`, and without this nothing would ever observe its build."""
        storage = self.deps.storage
        keys = [(e.id, e.attempt) for e in building]
        linked = await db(storage.linked_builds, head.queue, keys)
        for build_id in (linked[k] for k in keys if k in linked):
            await self.ctx.publish(
                m.TOPIC_BUILDSIGNAL, build_id, build_id, m.EntityRef(id=build_id, queue=head.queue)
            )

    async def _start(self, head: Batch, pending: list[PathEntry]) -> None:
        """Every pending path of one head in a constant number of statements, however deep the
        paths: their links, the builds' rows with their bases, the trees, then one write per
        build."""
        storage = self.deps.storage
        linked = await db(storage.linked_builds, head.queue, [(e.id, e.attempt) for e in pending])
        todo = [e for e in pending if (e.id, e.attempt) not in linked]
        if todo:
            builds = await self._record(head, todo)
            trees = await self._trees(head, builds)
            profile = self.deps.profiles.get(head.queue)
            for build in builds:
                started = await profile.runner.trigger(self._request(head, build, trees))
                run = self.deps.runs.started(head.queue, started) if self.deps.runs else None
                await db(storage.start_build, head.queue, build, run)
                linked[(build.path_id, build.attempt)] = build.id
        for entry in pending:
            build_id = linked[(entry.id, entry.attempt)]
            await self.ctx.publish(
                m.TOPIC_BUILDSIGNAL, build_id, build_id, m.EntityRef(id=build_id, queue=head.queue)
            )

    async def _record(self, head: Batch, entries: list[PathEntry]) -> list[Build]:
        """The builds' rows, written before the trigger so that a redelivery builds on the base
        it recorded: the target commit, read after the states of the batches layered on it (one
        seen succeeded is on it; one landing in between is on it and layered, and the tree skips
        a layer already present)."""
        storage = self.deps.storage
        profile = self.deps.profiles.get(head.queue)
        base_ids = list(dict.fromkeys(b for e in entries for b in e.path.base()))
        states = await db(storage.batch_states, head.queue, base_ids)
        base = await profile.target_head() if profile.target_head else ""
        wanted = [
            Build(
                id=build_id_for(entry),
                batch_id=head.id,
                path_id=entry.id,
                attempt=entry.attempt,
                status=BuildStatus.ACCEPTED,
                base=base,
                assumed=tuple(
                    b
                    for b in entry.path.base()
                    if (state := states.get(b)) is not None and state is not BatchState.SUCCEEDED
                ),
            )
            for entry in entries
        ]
        recorded = await db(storage.record_builds, head.queue, wanted)
        return [recorded.get(b.id, b) for b in wanted]

    async def _trees(self, head: Batch, builds: list[Build]) -> _Trees:
        """The batches each build layers on its base, and their requests' changes, whatever
        those batches' states are now: a build recorded earlier keeps the layers it had then."""
        storage = self.deps.storage
        layered = list(dict.fromkeys(b for build in builds for b in build.assumed))
        contents = await db(storage.batch_contents, head.queue, layered)
        contents[head.id] = head.contains
        ids = [r for contains in contents.values() for r in contains]
        changes = await db(storage.changes_of_requests, head.queue, ids)
        return _Trees(contents=contents, changes=changes)

    def _request(self, head: Batch, build: Build, trees: _Trees) -> BuildRequest:
        """The exact tree: the recorded base, then the changes of each batch the build assumes
        lands, in queue order, then the head's changes."""
        profile = self.deps.profiles.get(head.queue)
        layers: list[TreeLayer] = []
        uris: list[str] = []
        for batch_id in (*build.assumed, head.id):
            for request_id in trees.contents.get(batch_id, ()):
                for info in trees.changes.get(request_id, ()):
                    layers.append(TreeLayer(name=info.uri, commits=info.commits))
                    if batch_id == head.id:
                        uris.append(info.uri)
        return BuildRequest(
            build_id=build.id,
            repository=profile.repository,
            base=build.base or profile.target,
            layers=tuple(layers),
            command=profile.build_command,
            labels={"queue": head.queue, "head": head.id, "uris": " ".join(uris)},
            timeout_s=profile.build_timeout_s,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Trees:
    """What the trees of a head's paths are made of: the requests of each batch, and their
    changes."""

    contents: dict[BatchID, tuple[RequestID, ...]]
    changes: dict[str, list[ChangeInfo]]
