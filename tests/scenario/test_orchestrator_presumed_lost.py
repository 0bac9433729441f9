"""A build whose owner fell silent for longer than one lease is presumed lost and built again by
another instance. If the owner was only slow and its build passes after all, that late verdict
must not overturn the one the queue acted on: one build per verdict, and `lost` stays."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.build import BuildState
from sq.submitqueue.entity.build import BuildStatus
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


async def test_a_late_verdict_from_an_owner_presumed_dead_is_not_recorded(tmp_path: Path) -> None:
    s = Stack(tmp_path, instances=2)
    await s.start()
    a = await s.land("a")
    await s.settle()
    owners = [i for i, r in enumerate(s.runners) if r.running()]
    assert len(owners) == 1
    slow = owners[0]
    [first] = s.runners[slow].running()
    # The owner stalls: no heartbeat, no deliveries, while its runner goes on building.
    await s.orchestrators[slow].stop()
    await s.runs[slow].stop()
    await ticks(s, 12)  # a minute: its partitions move, its heartbeat goes stale
    other = s.runners[1 - slow]
    [second] = other.running()
    assert s.storage.get_build(QUEUE, first.build_id).status is BuildStatus.LOST

    s.runners[slow].finish(first.build_id, BuildState.PASSED)  # the stalled owner's late word
    await ticks(s, 2)
    assert s.storage.get_build(QUEUE, first.build_id).status is BuildStatus.LOST
    other.release()
    for _ in range(20):
        if s.log.final(a):
            break
        await ticks(s, 1)
    assert s.log.final(a) == "landed"
    built = [
        e.metadata["build_id"]
        for e in s.log.entries
        if e.request_id == a and e.type == "event" and e.event == "built"
    ]
    assert built == [second.build_id]
    await s.stop()


async def ticks(s: Stack, n: int) -> None:
    """`n` discovery and lease ticks of 5 s: what `settle` does not wait for between instances."""
    for _ in range(n):
        s.h.clock.advance(5)
        await s.settle()
