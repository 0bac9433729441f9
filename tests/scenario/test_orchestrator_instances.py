"""Two orchestrator instances on one database and queue, each with its own build runner: any
instance polls, cancels or concludes a build another one started."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.submitqueue.extension.conflictanalyzer.none import NoneConflictAnalyzer
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio

REQUESTS = 8


async def landed_with(tmp_path: Path, instances: int) -> tuple[list[str], int]:
    s = Stack(tmp_path, instances=instances, analyzer=NoneConflictAnalyzer())
    await s.start()
    ids = [await s.land(f"c{i}", files=f"d{i}/f") for i in range(REQUESTS)]
    await s.settle()
    for _ in range(REQUESTS):
        await s.release()
        # Two instances trade partitions on their discovery and lease ticks, which `settle`
        # does not wait for when no message is due: give them their ticks.
        s.h.clock.advance(5)
    await s.stop()
    return [s.log.final(r) or "" for r in ids], s.builds()


async def test_a_build_polled_by_another_instance_is_not_built_again(tmp_path: Path) -> None:
    one, builds_one = await landed_with(tmp_path / "one", 1)
    two, builds_two = await landed_with(tmp_path / "two", 2)
    assert one == two == ["landed"] * REQUESTS
    assert builds_two == builds_one == REQUESTS
