"""merge: ask runway to land a batch whose passed path has come true (spec §4.9), on the base
its passing build was made on (runway refuses any other, and mergesignal builds again)."""

from __future__ import annotations

from collections.abc import Callable

from sq.api import runway as rw
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.speculation.pending import marked_winner
from sq.submitqueue.core.speculation.rules import landing_path, mergeable_path
from sq.submitqueue.entity.batch import NOT_LANDED_STATES, Batch, BatchID, BatchState, is_halted
from sq.submitqueue.entity.build import Build
from sq.submitqueue.entity.path import Assumption
from sq.submitqueue.entity.pathset import PathEntry, PathSet
from sq.submitqueue.entity.request import Request
from sq.submitqueue.orchestrator.controller.common import (
    Log,
    db,
    decode,
    dependency_states,
    load_batch,
)
from sq.submitqueue.orchestrator.controller.validate import merge_request
from sq.submitqueue.orchestrator.profile import OrchestratorDeps


class MergeController:
    name = "merge"

    def __init__(self, deps: OrchestratorDeps, ctx: StageContext) -> None:
        self.deps, self.ctx, self.log = deps, ctx, Log(deps, ctx)

    async def process(self, delivery: Delivery) -> None:
        ref = decode(delivery, m.EntityRef)
        batch = await load_batch(self.deps, ref.queue, ref.id)
        if is_halted(batch.state):
            return
        _, winner = await winning_entry(self.deps, batch)
        carried = winner.carries if winner is not None else None
        requests = await self._requests(batch)
        landed = requests
        if carried is not None:  # the failed head's changes land first, inside the same tree
            carried_batch = await load_batch(self.deps, batch.queue, carried)
            landed = await self._requests(carried_batch) + requests
        for request in landed:
            await self.log.status(
                request.id,
                batch.queue,
                "landing",
                occurrence=f"{batch.id}/{batch.version}",
                metadata={"batch_id": batch.id},
            )
        landing = merge_request(batch.id, batch.queue, landed).model_copy(
            update={"landing": str(batch.version)}
        )
        build = await self._passed_build(batch, winner)
        if build is not None and build.base:
            steps = merge_request(
                batch.id, batch.queue, await self._assumed_requests(batch.queue, build, carried)
            ).steps
            check = self.deps.profiles.get(batch.queue).landing_check
            if check is rw.LandingCheck.DISJOINT:
                state_of = await dependency_states(self.deps, batch.queue, batch.dependencies)
                check = landing_check_for(check, winner, state_of, carried=carried)
            landing = landing.model_copy(
                update={"base": build.base, "assumed": steps, "landing_check": check}
            )
        # One landing per merging version of the batch: after an `outdated` answer the batch
        # merges again at a higher version, which must not dedup against the first landing.
        await self.ctx.publish(
            rw.TOPIC_RUNWAY_MERGE, batch.queue, intent_id(batch.id, landing.landing), landing
        )

    async def _assumed_requests(
        self, queue: str, build: Build, carried: BatchID | None
    ) -> list[Request]:
        """The requests of the batches `build` assumed would land, in its order: two reads
        whatever their number (a deep head's build may assume hundreds)."""
        storage = self.deps.storage
        layered = [b for b in build.assumed if b != carried]
        contents = await db(storage.batch_contents, queue, layered)
        ids = [r for b in layered for r in contents.get(b, ())]
        found = await db(storage.get_requests, queue, ids)
        return [found[r] for r in ids if r in found]

    async def _requests(self, batch: Batch) -> list[Request]:
        found = await db(self.deps.storage.get_requests, batch.queue, batch.contains)
        return [found[r] for r in batch.contains if r in found]

    async def _passed_build(self, batch: Batch, winner: PathEntry | None) -> Build | None:
        """The build of `winner`, the path the speculate run chose to land (None for a batch
        that is not merging, or whose build is not recorded: runway then lands without a base
        check)."""
        if batch.state is not BatchState.MERGING:
            return None
        if winner is None:
            return None
        storage = self.deps.storage
        build_id = await db(storage.linked_build, batch.queue, winner.id, winner.attempt)
        return None if build_id is None else await db(storage.get_build, batch.queue, build_id)


def landing_check_for(
    configured: rw.LandingCheck,
    winner: PathEntry | None,
    state_of: Callable[[BatchID], BatchState],
    *,
    carried: BatchID | None = None,
) -> rw.LandingCheck:
    """The queue's landing check, but `exact` for a winner built without a dependency that has
    not failed for good (an early landing). A dependency is a change the analyzer says may
    conflict: `disjoint` accepts only what other, independent lanes landed, so a dependency
    that landed since the build must send the head to build again, as `exact` does. The
    carried head lands inside the same push."""
    if configured is rw.LandingCheck.EXACT or winner is None:
        return configured
    for dependency in winner.path.dependencies:
        if dependency.assumption is Assumption.SUCCEEDS or dependency.batch == carried:
            continue
        if state_of(dependency.batch) not in NOT_LANDED_STATES:
            return rw.LandingCheck.EXACT
    return configured


async def winning_entry(
    deps: OrchestratorDeps, batch: Batch
) -> tuple[PathSet | None, PathEntry | None]:
    """The head's path set and the passed entry the speculate run chose to land: the one whose
    guesses all came true (dependencies stay terminal, so it is still the same one), or for a
    head landing early the one guessing its unfinished dependencies fail (`landing_path`; if
    one has landed since, runway finds the target moved and the head builds again). A head
    carrying a failed dependency lands on the entry marked so (`marked_winner`)."""
    path_set = await db(deps.storage.get_path_set, batch.queue, batch.id)
    state_of = await dependency_states(deps, batch.queue, batch.dependencies)
    winner = (
        marked_winner(path_set, state_of)
        or mergeable_path(path_set, state_of)
        or landing_path(path_set, state_of)
    )
    return path_set, winner


async def carrier_of(deps: OrchestratorDeps, batch: Batch) -> Batch | None:
    """The merging dependent whose landing carries `batch` (pending-failure depth), if any."""
    merging = await db(deps.storage.list_batches, batch.queue, (BatchState.MERGING,))
    for dependent in merging:
        if batch.id not in dependent.dependencies:
            continue
        _, winner = await winning_entry(deps, dependent)
        if winner is not None and winner.carries == batch.id:
            return dependent
    return None
