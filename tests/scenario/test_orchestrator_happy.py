"""One change through the whole pipeline: the trail a user sees, and what was built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from support.sq_stack import Stack

pytestmark = pytest.mark.anyio


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    s = Stack(tmp_path)
    await s.start()
    yield s
    await s.stop()


async def test_a_change_lands_with_the_full_trail(stack: Stack) -> None:
    a = await stack.land("a")
    await stack.settle()
    assert stack.builds() == 1
    await stack.release()
    assert stack.log.statuses(a) == [
        "started",
        "validating",
        "validated",
        "batching",
        "batched",
        "speculating",
        "speculated",
        "landing",
        "landed",
    ]
    assert stack.log.events(a) == ["building", "built", "merged"]
    assert stack.dead_letters() == []
