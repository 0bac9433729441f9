"""Batching (issue #20) on the whole pipeline: formation (full, on wait expiry, per lane), the
split of a failed batch down to its culprit, cancelling one member, and a crash in the middle
of forming or splitting (doc/batching-queue.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sq.platform.errs import RetryableError
from sq.runway.extension.merger import MergeInput, MergeOutcome, MergeResult
from sq.runway.extension.merger.noop import NoopMerger
from sq.submitqueue.core.batching import BatchPolicy, DeepBatching, SplitRule
from sq.submitqueue.entity.batch import ALL_STATES, Batch, BatchState, Priority
from sq.submitqueue.entity.request import RequestState
from sq.submitqueue.extension.conflictanalyzer import ConflictAnalyzer
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
)
from sq.submitqueue.orchestrator.changes import BatchChanges
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio

WAIT_MS = 60_000
POLICY = BatchPolicy(max_size=4, max_wait_ms=WAIT_MS, min_pass_probability=0.5)


async def started(tmp_path: Path, policy: BatchPolicy = POLICY, **kw: Any) -> Stack:
    stack = Stack(tmp_path, batching=policy, **kw)
    await stack.start()
    return stack


def batches(s: Stack) -> list[Batch]:
    return s.storage.list_batches(QUEUE, ALL_STATES)


def members(s: Stack) -> list[tuple[str, ...]]:
    return [b.contains for b in batches(s)]


async def release_all(s: Stack, times: int = 8) -> None:
    for _ in range(times):
        await s.release()


def split_events(s: Stack, request_id: str) -> list[dict[str, str]]:
    return [
        e.metadata
        for e in s.log.entries
        if e.request_id == request_id and e.type == "event" and e.event == "split"
    ]


async def test_a_full_batch_closes_at_once_and_lands_in_one_build(tmp_path: Path) -> None:
    s = await started(tmp_path)
    ids = [await s.land(name) for name in "abcd"]
    await s._settle_all()  # no time passes: only a full batch may close
    assert members(s) == [tuple(ids)]
    await s.settle()
    assert s.builds() == 1
    await s.release()
    assert s.order_landed() == ids
    assert all(s.log.final(r) == "landed" for r in ids)
    assert s.log.statuses(ids[0])[3:5] == ["batching", "batching"]  # waiting, then closed
    await s.stop()


async def test_a_batch_that_does_not_fill_closes_when_its_oldest_waited_long_enough(
    tmp_path: Path,
) -> None:
    s = await started(tmp_path)
    t0 = s.h.clock.now_ms()
    a, b = await s.land("a"), await s.land("b")
    await s._settle_all()
    assert members(s) == []  # waiting for two more
    await s.settle()
    assert members(s) == [(a, b)]
    assert s.h.clock.now_ms() - t0 >= WAIT_MS
    await s.release()
    assert s.order_landed() == [a, b]
    assert s.builds() == 1
    await s.stop()


async def test_lanes_never_share_a_batch_and_high_never_waits(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    h = await s.land("h", priority=Priority.HIGH)
    b = await s.land("b")
    await s._settle_all()
    assert members(s) == [(h,)]
    await s.settle()
    assert members(s) == [(h,), (a, b)]
    await release_all(s, 3)
    assert {s.log.final(r) for r in (a, h, b)} == {"landed"}
    await s.stop()


async def test_the_probability_floor_keeps_a_batch_small(tmp_path: Path) -> None:
    # 0.9 each: two make 0.81, three 0.729 < 0.75: (a b) is full when c comes; (c d) could
    # take nobody as likely as its members either, so it does not wait for its time.
    policy = BatchPolicy(max_size=4, max_wait_ms=WAIT_MS, min_pass_probability=0.75)
    s = await started(tmp_path, policy)
    ids = [await s.land(name) for name in "abcd"]
    await s._settle_all()
    assert members(s) == [tuple(ids[:2]), tuple(ids[2:])]
    await s.stop()


async def test_a_failed_batch_is_split_until_its_culprit_fails_alone(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    b = await s.land("b", fake="build-fail")
    c, d = await s.land("c"), await s.land("d")
    await s.settle()
    [first] = batches(s)
    await release_all(s)
    assert s.log.final(b) == "error"
    assert [s.log.final(r) for r in (a, c, d)] == ["landed"] * 3
    # Equal probabilities: likeliest = halves. 1 build of (a b c d), which fails; (a b) and
    # (c d) are analysed like arrivals, (c d) behind (a b) (the `all` analyzer), and the standard
    # speculator (budget 4) funds all three paths: (a b), (c d) on (a b), (c d) without it. (a b)
    # fails, so (c d) lands on its passed build without (a b), and (a b) splits into (a), (b):
    # (a) alone, (b) on (a) and (b) without (a). 1 + 3 + 3 = 7 builds for 4 changes.
    assert s.builds() == 7
    assert s.order_landed() == [c, d, a]
    assert members(s) == [(a, b, c, d), (a, b), (c, d), (a,), (b,)]
    states = [x.state for x in batches(s)]
    assert states == [
        BatchState.FAILED,
        BatchState.FAILED,
        BatchState.SUCCEEDED,
        BatchState.SUCCEEDED,
        BatchState.FAILED,
    ]
    # Every member has a history entry for each split it went through.
    assert [e["failed_batch_id"] for e in split_events(s, b)] == [first.id, batches(s)[1].id]
    assert [e["batch_id"] for e in split_events(s, c)] == [batches(s)[2].id]
    assert all(e["build_id"] for e in split_events(s, a) + split_events(s, c))
    # The culprit fails with its own build's log; the others never failed.
    failed_builds = [
        e.metadata for e in s.log.entries if e.request_id == b and e.event == "build-failed"
    ]
    assert failed_builds[-1]["batch_id"] == batches(s)[4].id
    assert "failed" in failed_builds[-1]["log_tail"]
    assert all("error" not in s.log.statuses(r) for r in (a, c, d))
    await s.stop()


async def skewed_run(tmp_path: Path, rule: SplitRule) -> tuple[list[tuple[str, ...]], int]:
    """b is the likeliest culprit (0.5 against 0.95) and is bad: the parts and the builds."""
    policy = BatchPolicy(max_size=4, max_wait_ms=WAIT_MS, min_pass_probability=0.1, split=rule)
    s = await started(tmp_path / rule.value, policy)
    probabilities = {"a": 0.95, "b": 0.5, "c": 0.95, "d": 0.95}

    class ByName:  # formation's and the split's scorer; the speculator keeps its constant one
        def score(self, batch: Batch) -> float:
            [request_id] = batch.contains
            request = s.storage.get_request(QUEUE, request_id)
            assert request is not None
            return probabilities[request.uris[0].rsplit("/", 1)[-1].split("?")[0]]

    object.__setattr__(s.deps.profiles.get(QUEUE), "scorer", ByName())
    a = await s.land("a")
    b = await s.land("b", fake="build-fail")
    c, d = await s.land("c"), await s.land("d")
    await s.settle()
    await release_all(s)
    assert s.log.final(b) == "error"
    assert [s.log.final(r) for r in (a, c, d)] == ["landed"] * 3
    found = members(s)
    await s.stop()
    return found, s.builds()


async def test_the_likeliest_split_isolates_the_likeliest_culprit(tmp_path: Path) -> None:
    likeliest, likeliest_builds = await skewed_run(tmp_path, SplitRule.LIKELIEST)
    halves, halves_builds = await skewed_run(tmp_path, SplitRule.HALVES)
    a, b, c, d = likeliest[0]
    # b carries most of the failure mass: it is cut out alone at once; (a b c d) fails, then
    # (a c d) alone and (b) on and without it: 1 + 1 + 2 builds.
    assert likeliest[1:] == [(a, c, d), (b,)]
    assert likeliest_builds == 4
    # Halves: (a b), and (c d) on and without it; then (a), and (b) on and without it: 1 + 3 + 3.
    assert halves[1:] == [(a, b), (c, d), (a,), (b,)]
    assert halves_builds == 7


async def test_cancelling_one_member_of_a_speculating_batch_rebatches_the_others(
    tmp_path: Path,
) -> None:
    s = await started(tmp_path)
    ids = [await s.land(name) for name in "abcd"]
    await s.settle()
    assert s.running_heads() == [batches(s)[0].id]
    await s.cancel(ids[1])
    await s.settle()
    assert s.log.final(ids[1]) == "cancelled"
    assert batches(s)[0].state is BatchState.CANCELLED
    assert members(s)[1:] == [(ids[0], ids[2], ids[3])]
    await release_all(s, 3)
    assert s.order_landed() == [ids[0], ids[2], ids[3]]
    assert all("requeued" in s.log.events(r) for r in (ids[0], ids[2], ids[3]))
    await s.stop()


async def test_cancelling_a_waiting_request_leaves_it_out_of_the_batch(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a, b = await s.land("a"), await s.land("b")
    await s._settle_all()
    await s.cancel(a)
    await s.settle()
    assert s.log.final(a) == "cancelled"
    assert members(s) == [(b,)]
    await s.release()
    assert s.order_landed() == [b]
    await s.stop()


def fails_once_after(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` done, then a crash before anything after it: the delivery is redelivered."""
    done: list[bool] = []

    def wrapped(*args: Any) -> Any:
        result = fn(*args)
        if not done:
            done.append(True)
            raise RetryableError("crashed after the commit")
        return result

    return wrapped


async def test_a_crash_after_closing_a_batch_creates_nothing_twice(tmp_path: Path) -> None:
    s = await started(tmp_path)
    s.storage.close_waiting = fails_once_after(s.storage.close_waiting)  # type: ignore[method-assign]
    ids = [await s.land(name) for name in "abcd"]
    await s.settle()
    assert members(s) == [tuple(ids)]
    await s.release()
    assert s.order_landed() == ids
    assert s.builds() == 1
    await s.stop()


async def test_a_crash_after_splitting_splits_once(tmp_path: Path) -> None:
    s = await started(tmp_path)
    s.storage.split_batch = fails_once_after(s.storage.split_batch)  # type: ignore[method-assign]
    a = await s.land("a")
    b = await s.land("b", fake="build-fail")
    await s.settle()
    await release_all(s)
    assert members(s) == [(a, b), (a,), (b,)]
    assert s.log.final(a) == "landed"
    assert s.log.final(b) == "error"
    # (a b c d) fails; (a c d) alone and (b) on and without it: 1 + 1 + 2 builds; halves
    # would have built (a b) and (c d) and then split (a b) again.
    assert s.builds() == 4
    await s.stop()


class RefusesSeveral:
    """Accepts each change alone (validation's dry run), refuses to land two at once."""

    def __init__(self) -> None:
        self._noop = NoopMerger()

    async def merge(self, request: MergeInput) -> MergeResult:
        if len(request.changes) > 1:
            return MergeResult(outcome=MergeOutcome.CONFLICT, reason="refused together")
        return await self._noop.merge(request)


async def test_a_batch_that_passed_but_could_not_land_fails_whole(tmp_path: Path) -> None:
    policy = BatchPolicy(max_size=2, max_wait_ms=WAIT_MS)
    s = await started(tmp_path, policy, merger=RefusesSeveral())
    a, b = await s.land("a"), await s.land("b")
    await s.settle()
    await s.release()
    assert members(s) == [(a, b)]  # not split: its build passed, landing it failed
    assert [s.log.final(r) for r in (a, b)] == ["error", "error"]
    assert "refused together" in s.log.last_error(a)
    await s.stop()


async def test_a_member_cancelled_while_its_batch_is_created_leaves_the_others_in(
    tmp_path: Path,
) -> None:
    s = await started(tmp_path, BatchPolicy(max_size=2, max_wait_ms=WAIT_MS))
    close = s.storage.close_waiting

    def close_then_cancel_first(batch: Batch) -> bool:
        """A cancel lands between the batch's creation and its dependency analysis (the cancel
        stage finds nothing cancellable yet and ends the request at once)."""
        closed = close(batch)
        request = s.storage.get_request(QUEUE, batch.contains[0])
        if closed and request is not None and len(batch.contains) > 1:
            s.storage.update_request(request, RequestState.CANCELLED)
        return closed

    s.storage.close_waiting = close_then_cancel_first  # type: ignore[method-assign]
    a, b = await s.land("a"), await s.land("b")
    await s.settle()
    await s.release()
    assert members(s) == [(a, b), (b,)]
    assert batches(s)[0].state is BatchState.CANCELLED
    assert s.log.final(b) == "landed"
    request = s.storage.get_request(QUEUE, a)
    assert request is not None and request.state is RequestState.CANCELLED
    await s.stop()


async def test_clean_changes_cost_one_build_per_batch(tmp_path: Path) -> None:
    """Eight changes that all pass, with a budget of one build (no build of an unlikely
    future): two builds with batches of four, eight without."""
    counts = []
    for policy in (BatchPolicy(), POLICY):
        s = await started(tmp_path / f"size{policy.max_size}", policy, budget=1)
        ids = [await s.land(f"c{i}") for i in range(8)]
        await s.settle()
        await release_all(s, 10)
        assert s.order_landed() == ids
        counts.append(s.builds())
        await s.stop()
    assert counts == [8, 2]


async def test_cancelling_a_member_waiting_again_after_a_requeue_ends_it(
    tmp_path: Path,
) -> None:
    s = await started(tmp_path)
    a, b, c, d = [await s.land(name) for name in "abcd"]
    await s.settle()
    await s.cancel(b)
    for _ in range(300):  # 0.1 s at a time: the build stops, well within a batch's wait
        if "requeued" in s.log.events(c):
            break
        s.h.clock.advance(0.1)
        await s._settle_all()
    assert "requeued" in s.log.events(c)
    assert [w.request for w in s.storage.waiting(QUEUE)] == [a, c, d]
    await s.cancel(c)
    await s._settle_all()
    assert s.log.final(c) == "cancelled"  # at once, not when the batch forms
    assert [w.request for w in s.storage.waiting(QUEUE)] == [a, d]
    await s.settle()
    await release_all(s, 3)
    assert [s.log.final(r) for r in (a, b, c, d)] == ["landed", "cancelled", "cancelled", "landed"]
    assert members(s) == [(a, b, c, d), (a, d)]
    await s.stop()


async def test_a_member_cancelled_while_its_part_is_created_ends_cancelled(
    tmp_path: Path,
) -> None:
    s = await started(tmp_path)
    split = s.storage.split_batch

    def split_then_cancel_second(failed: Batch, parts: Any) -> list[Batch]:
        """A cancel of b runs between the split and the analysis of b's part: it finds only
        ended or still-forming batches and leaves b `cancelling` for them."""
        made: list[Batch] = split(failed, parts)
        request = s.storage.get_request(QUEUE, failed.contains[1])
        if request is not None and request.state is RequestState.BATCHED:
            s.storage.update_request(request, RequestState.CANCELLING)
        return made

    s.storage.split_batch = split_then_cancel_second  # type: ignore[method-assign]
    a = await s.land("a", fake="build-fail")
    b = await s.land("b")
    await s.settle()
    await release_all(s, 4)
    assert members(s) == [(a, b), (a,), (b,)]
    assert s.log.final(a) == "error"
    assert s.log.final(b) == "cancelled"
    await s.stop()


def broken(fn: Callable[..., Any], on: list[bool]) -> Callable[..., Any]:
    """`fn`, except that it raises while `on` holds True."""

    def wrapped(*args: Any) -> Any:
        if on[0]:
            raise RuntimeError("formation broke")
        return fn(*args)

    return wrapped


async def test_a_dead_lettered_wake_ends_the_requests_waiting_on_it(tmp_path: Path) -> None:
    s = await started(tmp_path)
    on = [False]
    s.storage.close_waiting = broken(s.storage.close_waiting, on)  # type: ignore[method-assign]
    a = await s.land("a")
    await s._settle_all()
    s.h.clock.advance(1)
    b = await s.land("b")  # later: the formation it asks for leaves the same wake as a's
    await s._settle_all()
    on[0] = True  # the wake, when it comes due, fails until it is dead-lettered
    await s.settle(dead_letters=1)
    assert [s.log.final(r) for r in (a, b)] == ["error", "error"]
    assert "batch formation dead-lettered: formation broke" in s.log.last_error(b)
    assert s.storage.waiting(QUEUE) == []
    on[0] = False
    c = await s.land("c")  # the queue goes on
    await s.settle()
    await s.release()
    assert s.order_landed() == [c]
    await s.stop()


async def test_a_dead_lettered_requeue_ends_the_requests_it_put_back(tmp_path: Path) -> None:
    s = await started(tmp_path)
    on = [False]
    s.storage.close_waiting = broken(s.storage.close_waiting, on)  # type: ignore[method-assign]
    a, b, c, d = [await s.land(name) for name in "abcd"]
    await s.settle()
    on[0] = True  # the others go back to wait; their formation fails until dead-lettered
    await s.cancel(b)
    await s.settle(dead_letters=1)
    assert [s.log.final(r) for r in (a, b, c, d)] == ["error", "cancelled", "error", "error"]
    assert all("requeued" in s.log.events(r) for r in (a, c, d))
    assert "batch formation dead-lettered" in s.log.last_error(d)
    await s.stop()


def by_file(storage: OrchestratorStorage) -> ConflictAnalyzer:
    return PathOverlapConflictAnalyzer(BatchChanges(storage).files, Granularity.FILE)


async def first_in_flight(tmp_path: Path, policy: BatchPolicy) -> tuple[Stack, str]:
    """A stack conflicting by file, with `p` (p.py) batched alone and building."""
    s = await started(tmp_path, policy, analyzer_for=by_file)
    p = await s.land("p", files="p.py")
    await s.settle()  # its batch closes when it has waited long enough, then it builds
    assert members(s) == [(p,)]
    return s, p


@pytest.mark.parametrize(("cap", "formed"), [(None, ["a b c"]), (0, ["a", "b c"])])
async def test_the_dependency_cap_keeps_a_conflicting_request_out_of_a_batch(
    tmp_path: Path, cap: int | None, formed: list[str]
) -> None:
    # a conflicts with p, in flight: with no batch allowed any dependency, a goes alone at
    # once (no one can join it) and b, c (which conflict with nothing) share a batch.
    s, p = await first_in_flight(
        tmp_path, BatchPolicy(max_size=4, max_wait_ms=WAIT_MS, max_dependencies=cap)
    )
    ids = {name: await s.land(name, files=f"{'p' if name == 'a' else name}.py") for name in "abc"}
    await s.settle()
    assert members(s) == [(p,), *(tuple(ids[n] for n in group.split()) for group in formed)]
    await release_all(s)
    assert all(s.log.final(r) == "landed" for r in (p, *ids.values()))
    await s.stop()


@pytest.mark.parametrize(("separate", "formed"), [(False, ["a b c"]), (True, ["a", "b c"])])
async def test_two_waiting_requests_that_conflict_are_kept_apart_when_asked(
    tmp_path: Path, separate: bool, formed: list[str]
) -> None:
    # a and b both change x.py; c changes y.py.
    s, p = await first_in_flight(
        tmp_path, BatchPolicy(max_size=4, max_wait_ms=WAIT_MS, separate_conflicting=separate)
    )
    ids = {name: await s.land(name, files="y.py" if name == "c" else "x.py") for name in "abc"}
    await s.settle()
    assert members(s) == [(p,), *(tuple(ids[n] for n in group.split()) for group in formed)]
    await release_all(s)
    assert all(s.log.final(r) == "landed" for r in (p, *ids.values()))
    await s.stop()


async def test_an_ordered_queue_keeps_apart_only_what_its_own_analyzer_calls_conflicting(
    tmp_path: Path,
) -> None:
    # An exact queue orders every change (`all` gives the dependencies) but separates waiting
    # changes by its configured analyzer: a and b both change x.py, c changes y.py.
    policy = BatchPolicy(max_size=4, max_wait_ms=WAIT_MS, separate_conflicting=True)
    s = await started(tmp_path, policy, separating_for=by_file)
    p = await s.land("p", files="p.py")
    await s.settle()
    ids = {name: await s.land(name, files="y.py" if name == "c" else "x.py") for name in "abc"}
    await s.settle()
    assert members(s) == [(p,), (ids["a"],), (ids["b"], ids["c"])]
    await release_all(s)
    assert all(s.log.final(r) == "landed" for r in (p, *ids.values()))
    await s.stop()


async def test_a_deep_queue_pairs_its_changes_and_a_quiet_one_builds_each_alone(
    tmp_path: Path,
) -> None:
    # No batching while shallow; deep from three arrivals within ten minutes: then pairs.
    deep = DeepBatching(build_time_ms=600_000, arrivals=3)
    s = await started(tmp_path, BatchPolicy(deep=deep))
    a, b = await s.land("a"), await s.land("b")
    await s._settle_all()
    assert members(s) == [(a,), (b,)]  # two arrivals: each alone, at once
    assert s.log.statuses(a).count("batching") == 1  # without the waiting room (its arrival counts)
    c, d, e = await s.land("c"), await s.land("d"), await s.land("e")
    await s._settle_all()
    assert members(s) == [(a,), (b,), (c, d)]  # deep from c on: e waits for a partner
    assert s.log.statuses(c).count("batching") == 2  # waited, then closed
    t0 = s.h.clock.now_ms()
    await s.settle()
    assert members(s) == [(a,), (b,), (c, d), (e,)]  # closed alone after deep's 30 s
    assert 30_000 <= s.h.clock.now_ms() - t0 < 60_000
    await release_all(s)
    s.h.clock.advance(600)  # ten quiet minutes: shallow again
    f, g = await s.land("f"), await s.land("g")
    await s._settle_all()
    assert members(s)[-2:] == [(f,), (g,)]
    await release_all(s)
    assert all(s.log.final(r) == "landed" for r in (a, b, c, d, e, f, g))
    await s.stop()


async def test_a_lone_change_in_a_deep_queue_is_not_held_behind_a_shallow_wake(
    tmp_path: Path,
) -> None:
    # a waits under the shallow rules (a wake held two minutes); b, c make the queue deep: a
    # and b close as a pair and c waits for deep's 30 s, not for a's two-minute wake.
    deep = DeepBatching(build_time_ms=600_000, arrivals=3)
    s = await started(tmp_path, BatchPolicy(max_size=4, max_wait_ms=120_000, deep=deep))
    t0 = s.h.clock.now_ms()
    a = await s.land("a")
    await s._settle_all()
    assert members(s) == []  # a waits for partners; its wake is held until t0 + 2 min
    b, c = await s.land("b"), await s.land("c")
    await s._settle_all()
    assert members(s) == [(a, b)]  # deep from c on: a pair is full
    for _ in range(30):  # five seconds at a time, up to 150 s
        s.h.clock.advance(5)
        await s._settle_all()
        if members(s) != [(a, b)]:
            break
    assert members(s) == [(a, b), (c,)]
    assert s.h.clock.now_ms() - t0 < 60_000
    await release_all(s)
    assert all(s.log.final(r) == "landed" for r in (a, b, c))
    await s.stop()


async def test_a_shallow_arrival_does_not_overtake_a_change_still_waiting(tmp_path: Path) -> None:
    # Deep from three arrivals within 20 s, pairs waiting up to a minute: c waits for a partner;
    # 25 s later the queue is shallow again, and f must not be batched alone ahead of c.
    deep = DeepBatching(build_time_ms=20_000, arrivals=3, max_wait_ms=60_000)
    s = await started(tmp_path, BatchPolicy(deep=deep))
    a, b, c = await s.land("a"), await s.land("b"), await s.land("c")
    await s._settle_all()
    assert members(s) == [(a,), (b,)]  # c waits (deep)
    s.h.clock.advance(25)
    f = await s.land("f")
    await s._settle_all()
    assert members(s) == [(a,), (b,), (c,), (f,)]  # the shallow rules close c first, then f
    await release_all(s)
    assert all(s.log.final(r) == "landed" for r in (a, b, c, f))
    await s.stop()
