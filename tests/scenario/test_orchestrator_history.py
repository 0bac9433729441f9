"""The history scorer learns from the queue's own outcomes, and speculation follows what it learned.

Every change here conflicts with the ones ahead of it (the `all` analyzer) and the budget is 2, so
B, landed behind A, gets exactly one speculative build: on top of A while A is believed to land,
without A once A's area has a record of failing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.submitqueue.entity.batch import BatchID
from sq.submitqueue.extension.scorer.history import HistoryScorer
from sq.submitqueue.orchestrator.storage.outcomes import SqlOutcomeStore
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


def b_builds_on_a(s: Stack, b_head: str, a_name: str) -> bool:
    [b_build] = [r for r in s.runner.running() if r.labels["head"] == b_head]
    return any(f"/{a_name}?" in layer.name for layer in b_build.layers)


def probability(s: Stack, batch: int) -> float:
    found = s.storage.get_batch(QUEUE, BatchID(f"{QUEUE}/batch/{batch}"))
    assert found is not None and isinstance(s.scorer, HistoryScorer)
    return s.scorer.score(found)


async def test_failures_in_an_area_lower_its_probability_and_change_the_ranking(
    tmp_path: Path,
) -> None:
    s = Stack(tmp_path, budget=2, history=True)
    await s.start()
    a1 = await s.land("a1", files="x/1", fake="build-fail")
    b1 = await s.land("b1", files="y/1")
    await s.settle()
    before = probability(s, 1)
    assert before == pytest.approx(0.9)  # no history yet: the prior
    assert b_builds_on_a(s, f"{QUEUE}/batch/2", "a1")  # A is believed to land
    await s.release()
    await s.release()
    assert [s.log.final(a1), s.log.final(b1)] == ["error", "landed"]

    for n in (2, 3):  # two more failures in x/
        bad = await s.land(f"a{n}", files=f"x/{n}", fake="build-fail")
        await s.settle()
        await s.release()
        assert s.log.final(bad) == "error"

    a4 = await s.land("a4", files="x/4")
    b4 = await s.land("b4", files="y/4")
    await s.settle()
    after = probability(s, 5)
    assert after < 0.5 < before  # x/ now fails more often than it lands
    assert probability(s, 6) > after  # y/ only ever landed
    assert not b_builds_on_a(s, f"{QUEUE}/batch/6", "a4")  # B's best future is now without A
    await s.release()
    await s.release()
    assert [s.log.final(a4), s.log.final(b4)] == ["landed", "landed"]

    stored = SqlOutcomeStore(s.storage.engine, QUEUE).recent(100)  # what a restart replays
    assert [o.succeeded for o in stored] == [False, True, False, False, True, True]
    await s.stop()
