"""Chains of conflicting changes through real speculation (speculation issue's scenario list).

Each story: land A, B, C → settle → look at what is being built → release builds → assert the
landed order and how many builds it took.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
)
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio

# Known defect: when several builds finish together, how many of their results one speculate run
# folds in depends on task interleaving, so one more or one fewer speculative future may be funded.
# The landed order and the outcomes never vary; build counts are bounded by one build per change
# below and by the most seen in 40 runs above.
NONDETERMINISTIC = "build count outside its bounds (see the note at the top)"


async def started(tmp_path: Path, **kw: object) -> Stack:
    stack = Stack(tmp_path, **kw)  # type: ignore[arg-type]
    await stack.start()
    return stack


async def test_chain_of_three_with_budget_four_builds_each_future_once(tmp_path: Path) -> None:
    s = await started(tmp_path, budget=4)
    a, b, c = [await s.land(n) for n in "abc"]
    await s.settle()
    assert len(s.runner.running()) == 4  # the whole budget: A, B on A, C on A+B, B without A
    await s.release()
    await s.release()
    assert s.order_landed() == [a, b, c]
    # 4 at first; 2-3 more futures of C funded while A was merging (p=0.9 is not 1)
    assert 3 <= s.builds() <= 7, NONDETERMINISTIC
    assert s.dead_letters() == []
    await s.stop()


async def test_chain_of_three_with_budget_two_waits_for_a_slot(tmp_path: Path) -> None:
    s = await started(tmp_path, budget=2)
    a, b, c = [await s.land(n) for n in "abc"]
    await s.settle()
    assert len(s.runner.running()) == 2
    assert s.running_heads() == [f"{QUEUE}/batch/1", f"{QUEUE}/batch/2"]
    await s.release()
    await s.release()
    assert s.order_landed() == [a, b, c]
    # A, B on A; then C on A+B, and maybe one more future of C while A merged
    assert 3 <= s.builds() <= 5, NONDETERMINISTIC
    await s.stop()


async def test_a_failure_in_the_middle_does_not_block_the_change_behind_it(tmp_path: Path) -> None:
    s = await started(tmp_path, budget=4)
    a = await s.land("a")
    b = await s.land("b", fake="build-fail")
    c = await s.land("c")
    await s.settle()
    await s.release()
    await s.release()
    assert s.order_landed() == [a, c]
    assert s.log.final(b) == "error"
    assert "no speculation path could pass" in s.log.last_error(b)
    # B fails on every future; C's futures without B were already funded
    assert 3 <= s.builds() <= 7, NONDETERMINISTIC
    await s.stop()


async def test_the_first_batch_bad(tmp_path: Path) -> None:
    s = await started(tmp_path, budget=4)
    a = await s.land("a", fake="build-fail")
    b = await s.land("b")
    c = await s.land("c")
    await s.settle()
    await s.release()
    await s.release()
    assert s.log.final(a) == "error"
    assert s.order_landed() == [b, c]
    # B without A was already built; C without A needed more
    assert 3 <= s.builds() <= 7, NONDETERMINISTIC
    await s.stop()


async def test_cancel_mid_chain(tmp_path: Path) -> None:
    s = await started(tmp_path, budget=4)
    a, b, c = [await s.land(n) for n in "abc"]
    await s.settle()
    await s.cancel(b, "not needed")
    await s.settle()
    await s.release()
    await s.release()
    assert s.log.final(b) == "cancelled"
    assert s.order_landed() == [a, c]
    assert "landed" not in s.log.statuses(b)
    assert s.runner.cancelled  # B's running build was stopped
    assert s.dead_letters() == []
    await s.stop()


async def test_independent_lanes_with_pathoverlap(tmp_path: Path) -> None:
    def analyzer(storage: OrchestratorStorage) -> PathOverlapConflictAnalyzer:
        def files_of(batch):  # type: ignore[no-untyped-def]
            paths = []
            for request_id in batch.contains:
                request = storage.get_request(batch.queue, request_id)
                assert request is not None
                paths += [f.path for info in storage.changes_of(request) for f in info.files]
            return paths

        return PathOverlapConflictAnalyzer(files_of, Granularity.DIRECTORY)

    s = await started(tmp_path, budget=4, analyzer_for=analyzer)
    a = await s.land("a", files="x/1")
    b = await s.land("b", files="y/1")
    c = await s.land("c", files="x/2")
    await s.settle()
    batch_b = s.storage.get_batch(QUEUE, f"{QUEUE}/batch/2")
    batch_c = s.storage.get_batch(QUEUE, f"{QUEUE}/batch/3")
    assert batch_b is not None and batch_b.dependencies == ()
    assert batch_c is not None and batch_c.dependencies == (f"{QUEUE}/batch/1",)
    s.runner.release(lambda r: r.labels["head"] == f"{QUEUE}/batch/2")
    await s.settle()
    assert s.order_landed() == [b]  # B's lane does not wait for A
    await s.release()
    await s.release()
    assert s.order_landed() == [b, a, c]
    assert s.builds() == 4  # A, B, C on A, C without A: B's lane never built against A
    await s.stop()
