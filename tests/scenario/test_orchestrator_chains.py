"""Chains of conflicting changes through real speculation (speculation issue's scenario list).

Each story: land A, B, C → settle → look at what is being built → release builds → assert the
landed order and exactly how many builds it took.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from sq.platform.errs import RetryableError
from sq.submitqueue.core.speculation.finalize import OutcomeKind, finalize_steps
from sq.submitqueue.entity.batch import Batch, BatchState
from sq.submitqueue.entity.pathset import PathStatus
from sq.submitqueue.extension.conflictanalyzer.pathoverlap import (
    Granularity,
    PathOverlapConflictAnalyzer,
)
from sq.submitqueue.orchestrator.controller import speculate
from sq.submitqueue.orchestrator.controller.mergesignal import MergeSignalController
from sq.submitqueue.orchestrator.controller.speculate_read import read_snapshot
from sq.submitqueue.orchestrator.storage import OrchestratorStorage, batches
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio

# Build counts are exact: a speculate run reads one consistent snapshot, and a burst of signals
# (builds finishing together, a merge landing) settles into one run (speculate_schedule.py), so
# what gets funded does not depend on how the stages were interleaved. With p = 0.9 per change the
# ranking is A[] 0, B[A=s] -0.11, C[A=s,B=s] -0.21, B[A=f] -2.3, C[A=s,B=f] = C[A=f,B=s] -2.4,
# C[A=f,B=f] -4.6 (log-probabilities; A, B, C land in that order and each conflicts with the ones
# ahead). A head merged in a run still reads `speculating` to that run's Speculator (spec §3.5), and
# a merging dependency stays open, so the slots a merge frees are spent on the futures below it.


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
    # the 4 above, then C's 3 other futures in the run that merges A: every slot is free again
    assert s.builds() == 7
    assert s.dead_letters() == []
    await s.stop()


async def test_builds_that_finish_together_are_folded_by_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await started(tmp_path, budget=4)
    for name in "abc":
        await s.land(name)
    await s.settle()
    passed_per_run: list[int] = []

    def counting(storage: OrchestratorStorage, queue: str, now_ms: int, flaky: int = 0):  # type: ignore[no-untyped-def]
        read = read_snapshot(storage, queue, now_ms, flaky)
        sets = read.snapshot.path_sets
        passed = [e for p in sets for e in p.paths if e.status is PathStatus.PASSED]
        passed_per_run.append(len(passed))
        return read

    monkeypatch.setattr(speculate, "read_snapshot", counting)
    await s.release()
    # One run per settled burst, never one per signal seeing part of it: the four results. B and
    # C then merge from their dependency's landing (mergesignal), so the runs after a landing find
    # fewer passed paths (none once the chain has landed) and there are no more of them than one
    # per landing plus the one when the last of C's superseded builds has stopped.
    assert passed_per_run[0] == 4
    assert len(passed_per_run) <= 5
    await s.stop()


async def test_a_landing_merges_its_dependent_without_waiting_for_a_speculate_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await started(tmp_path, budget=4)
    a, b, c = [await s.land(n) for n in "abc"]
    await s.settle()
    merged_by_runs: list[str] = []

    def counting(snapshot, **kw):  # type: ignore[no-untyped-def]
        steps = finalize_steps(snapshot, **kw)
        committed = None
        try:
            outcome = next(steps)
            while True:
                if outcome.kind is OutcomeKind.MERGE:
                    merged_by_runs.append(outcome.head)
                committed = yield outcome
                outcome = steps.send(committed)
        except StopIteration as stop:
            return stop.value

    monkeypatch.setattr(speculate, "finalize_steps", counting)
    await s.release()
    assert s.order_landed() == [a, b, c]
    # A merges in the run that reads the four results; B and C (each all of whose guesses came
    # true when the one ahead landed) merge from that landing's signal. A run may still win the
    # race for one of them, never for both.
    assert len(merged_by_runs) < 3, merged_by_runs
    assert s.dead_letters() == []
    await s.stop()


async def test_a_landing_checks_only_the_dependents_it_could_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the `all` analyzer every head depends on every head ahead: a landing frees only the
    next one, and must not read the path set and dependencies of every head behind it (that
    made a deep queue's landings quadratic)."""
    s = await started(tmp_path, budget=12)
    ids = [await s.land(f"r{n}") for n in range(12)]
    await s.settle()
    checked: list[str] = []
    original = MergeSignalController._merge_if_true

    async def counted(self: MergeSignalController, head: Batch) -> None:
        checked.append(head.id)
        await original(self, head)

    monkeypatch.setattr(MergeSignalController, "_merge_if_true", counted)
    await s.release()
    assert s.order_landed() == ids
    assert len(checked) <= len(ids), checked  # at most the next head per landing, not all behind
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
    # A, B on A; A's merge frees both slots for C on A+B and B without A; nothing more after
    assert s.builds() == 4
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
    # as in the budget-4 chain: 4, then C's 3 other futures when A merges; B's two fail, and
    # C lands on C[A=s,B=f], one of those three
    assert s.builds() == 7
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
    # 4, then A fails and B[A=f] passed: B merges, and C gets its 2 futures without A
    assert s.builds() == 6
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
    # 4, then once B is cancelled C[A=s,B=s] is broken and C[A=s,B=f], C[A=f,B=f] take the slots
    # B's two builds held
    assert s.builds() == 6
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


async def test_a_landing_that_merges_its_dependent_writes_the_verdict_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The freed dependent's superseded paths and its move to merging are one transaction: an
    orchestrator that dies inside it leaves the path set as it was (written one after the other,
    the superseded set was committed alone), and the chain still lands in order."""
    s = await started(tmp_path, budget=4)
    ids = [await s.land(n) for n in "abc"]
    await s.settle()
    before: dict[str, int] = {}
    at_death: dict[str, int] = {}
    original_merge = MergeSignalController._merge_if_true
    original_transition = batches._transition

    async def merge_if_true(self: MergeSignalController, head: Batch) -> None:
        path_set = s.storage.get_path_set(head.queue, head.id)
        before.setdefault(head.id, path_set.version if path_set else 0)
        await original_merge(self, head)

    def transition(conn: Any, batch: Batch, state: BatchState, *args: Any) -> Batch | None:
        if state is BatchState.MERGING and batch.id in before and not at_death:
            committed = s.storage.get_path_set(batch.queue, batch.id)  # another connection
            at_death[batch.id] = committed.version if committed else 0
            raise RetryableError("the orchestrator died inside the verdict's write")
        return original_transition(conn, batch, state, *args)

    monkeypatch.setattr(MergeSignalController, "_merge_if_true", merge_if_true)
    monkeypatch.setattr(batches, "_transition", transition)
    await s.release()
    assert at_death, "no landing merged its dependent"
    assert {h: before[h] for h in at_death} == at_death
    assert s.order_landed() == ids
    assert s.dead_letters() == []
    await s.stop()


async def test_a_redelivered_build_message_signals_a_build_a_run_already_saw_started(
    tmp_path: Path,
) -> None:
    """A process that died between linking a build and publishing its signal: a speculate run
    saw the link and moved the entry to `building`, so the redelivered `build` message finds
    nothing pending. It must still signal the build, or nothing ever observes its end."""
    s = await started(tmp_path, budget=4)
    await s.land("a")
    await s.settle()
    head = s.storage.list_batches(QUEUE, [BatchState.SPECULATING])[0]
    path_set = s.storage.get_path_set(QUEUE, head.id)
    assert path_set is not None
    assert [e.status for e in path_set.paths] == [PathStatus.BUILDING]
    controller = s.orchestrator.controllers["build"]
    signalled: list[str] = []
    context = controller.ctx

    class Recorded:
        async def publish(self, key: str, partition: str, message_id: str, *rest: Any) -> bool:
            if key == "buildsignal":
                signalled.append(message_id)
            return await context.publish(key, partition, message_id, *rest)

    controller.ctx = Recorded()
    redelivered = SimpleNamespace(json=lambda: {"id": head.id, "queue": QUEUE})
    await controller.process(redelivered)
    entry = path_set.paths[0]
    assert signalled == [f"{head.id}/{entry.id[:16]}/{entry.attempt}"]
    await s.release()
    assert s.dead_letters() == []
    await s.stop()
