"""An `outdated` landing on the fake stack, with an exact-tree merger: the head is built once
more, and only once, even when the orchestrator dies while it answers (tests/e2e/test_scale_out.py
saw a passed build, its landing, a rebuild that passed, one `outdated`, then a third build)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sq.platform.build import BuildRequest
from sq.platform.errs import RetryableError
from sq.submitqueue.entity.pathset import PathSet, PathStatus
from sq.submitqueue.extension.conflictanalyzer.none import NoneConflictAnalyzer
from support.exact_merger import ExactMerger
from support.sq_stack import Stack

pytestmark = pytest.mark.anyio

A, B = "q/batch/1", "q/batch/2"


def head_is(batch: str) -> Callable[[BuildRequest], bool]:
    return lambda request: request.labels["head"] == batch


class KilledError(RetryableError):
    """The orchestrator died: its delivery comes back after the visibility timeout."""

    retry_after_s = 8.0


def dies_once_after_storing(
    head: str, attempt: int, fn: Callable[..., Any], died: list[bool]
) -> Callable[..., Any]:
    """`fn` (a write of a path set, first argument), then, the first time any of the writes
    sharing `died` stored `attempt` of `head` as pending, death before anything after it: the
    delivery comes back later with that write done."""

    def wrapped(path_set: PathSet | None, *args: Any) -> Any:
        result = fn(path_set, *args)
        pending = (
            path_set is not None
            and path_set.head == head
            and any(e.attempt == attempt and e.status is PathStatus.PENDING for e in path_set.paths)
        )
        if pending and not died:
            died.append(True)
            raise KilledError("killed after storing the new attempt")
        return result

    return wrapped


async def until(s: Stack, done: Callable[[], bool]) -> None:
    """Half a second at a time, ten seconds at most."""
    for _ in range(20):
        if done():
            return
        await s.h.advance(0.5)
    raise AssertionError("not within ten seconds")


def builds_of(s: Stack, head: str) -> list[str]:
    return [r.build_id for r in s.runner.triggered if r.labels["head"] == head]


async def test_an_outdated_answer_redelivered_after_a_crash_builds_the_head_once_more(
    tmp_path: Path,
) -> None:
    merger = ExactMerger()
    s = Stack(
        tmp_path, merger=merger, target_head=merger.target_head, analyzer=NoneConflictAnalyzer()
    )
    await s.start()
    a, b = await s.land("a"), await s.land("b")
    await s.settle()
    assert s.running_heads() == [A, B]  # two lanes, both built on t0
    await s.release(which=head_is(A))
    assert s.order_landed() == [a]
    # B's build passes on t0; runway finds t1 and answers outdated; the orchestrator dies right
    # after storing B's new attempt.
    died: list[bool] = []
    for write in ("save_path_set", "commit_verdict"):
        wrapped = dies_once_after_storing(B, 2, getattr(s.storage, write), died)
        setattr(s.storage, write, wrapped)
    s.runner.release(head_is(B))
    await until(s, lambda: bool(died))
    # Before the answer comes back, the queue goes on (another change arrives): B's new attempt
    # is built on t1 and passes.
    await s.land("c")
    await until(s, lambda: len(builds_of(s, B)) == 2)
    s.runner.release(head_is(B))
    await s.settle()  # the answer comes back: B lands on the build it has
    assert builds_of(s, B)[1:] == [f"{builds_of(s, B)[0][:-2]}/2"]  # on t0, then t1, no more
    assert s.log.events(b).count("outdated") == 1
    assert merger.outdated == 1
    assert s.order_landed() == [a, b]
    assert merger.landings[1].base == "t1"
    await s.release()
    await s.stop()
