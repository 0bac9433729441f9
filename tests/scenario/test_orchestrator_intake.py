"""Dependency analysis in bursts: every `creating` batch of the queue in one pass, with the same
dependencies as one at a time, a constant number of statements, and nothing lost on a crash."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from sq.submitqueue.core import messages as m
from sq.submitqueue.entity.batch import Batch, BatchState, Priority, RequestID, batch_id
from sq.submitqueue.entity.conflict import Conflict, ConflictType
from sq.submitqueue.entity.request import Request, RequestState
from sq.submitqueue.orchestrator.controller.dependencyanalysis import (
    DependencyAnalysisController,
)
from sq.submitqueue.orchestrator.controller.speculate_schedule import WAKE
from sq.submitqueue.orchestrator.storage import OrchestratorStorage
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


def number(batch: Batch) -> int:
    return int(batch.id.rsplit("/", 1)[-1])


class ParityAnalyzer:
    """Batches of the same parity conflict: two lanes, so dependencies differ batch to batch."""

    def analyze(self, candidate: Batch, in_flight: Sequence[Batch]) -> list[Conflict]:
        return [
            Conflict(batch_id=b.id, type=ConflictType.TARGET_OVERLAP)
            for b in in_flight
            if number(b) % 2 == number(candidate) % 2
        ]


class Recorder:
    """The stage context: keeps what was published, once per (topic, partition, id)."""

    def __init__(self) -> None:
        self.published: dict[tuple[str, str, str], Any] = {}

    async def publish(
        self, key: str, partition: str, message_id: str, payload: Any, metadata: Any = None
    ) -> bool:
        first = (key, partition, message_id) not in self.published
        self.published.setdefault((key, partition, message_id), payload)
        return first

    def batched(self) -> list[str]:
        return sorted(
            p.request_id
            for (key, _, _), p in self.published.items()
            if key == m.TOPIC_LOG and p.status == "batched"
        )


class Message:
    def __init__(self, batch: str) -> None:
        self._body = m.EntityRef(id=batch, queue=QUEUE).model_dump()

    def json(self) -> Any:
        return json.loads(json.dumps(self._body))


def controller(s: Stack, ctx: Recorder) -> DependencyAnalysisController:
    return DependencyAnalysisController(s.deps, ctx)  # type: ignore[arg-type]


def priority_of(n: int) -> Priority:
    return Priority.HIGH if n % 5 == 0 else Priority.NORMAL


def add(storage: OrchestratorStorage, n: int) -> str:
    """Request `n`, validated, in its new batch `n`, still `creating`."""
    request = RequestID(f"{QUEUE}/{n}")
    storage.create_request(
        Request(
            id=request,
            queue=QUEUE,
            uris=(f"fake://x/{n}",),
            state=RequestState.VALIDATED,
            priority=priority_of(n),
        )
    )
    batch = batch_id(QUEUE, n)
    storage.create_batch(Batch(id=batch, queue=QUEUE, contains=(request,), priority=priority_of(n)))
    return batch


def shape(storage: OrchestratorStorage, count: int) -> list[tuple[str, Any, Any, Any]]:
    batches = [storage.get_batch(QUEUE, batch_id(QUEUE, n)) for n in range(1, count + 1)]
    return [(b.id, b.state, b.dependencies, b.overtakes) for b in batches if b is not None]


def request_states(storage: OrchestratorStorage, count: int) -> list[RequestState | None]:
    found = [storage.get_request(QUEUE, f"{QUEUE}/{n}") for n in range(1, count + 1)]
    return [None if r is None else r.state for r in found]


async def one_at_a_time(tmp: Path, count: int) -> list[tuple[str, Any, Any, Any]]:
    s = Stack(tmp, analyzer=ParityAnalyzer())
    stage = controller(s, Recorder())
    for n in range(1, count + 1):
        await stage.process(Message(add(s.storage, n)))  # type: ignore[arg-type]
    return shape(s.storage, count)


def killed_inside(table: str) -> Callable[..., Any]:
    """A `create_batches` killed inside its transaction, after writing to `table`: the write
    must roll back whole."""

    def dies_mid_write(self: OrchestratorStorage, *args: Any) -> Any:
        with self.engine.begin() as conn:
            conn.execute(sa.update(sa.table(table, sa.column("state"))).values(state="x"))
            raise SystemExit("killed")

    return dies_mid_write


async def test_a_burst_gives_every_batch_the_dependencies_it_gets_one_at_a_time(
    tmp_path: Path,
) -> None:
    count = 12
    expected = await one_at_a_time(tmp_path / "serial", count)
    assert [state for _, state, _, _ in expected] == [BatchState.CREATED] * count
    assert any(overtakes for *_, overtakes in expected), "the priority lane took part"

    s = Stack(tmp_path / "burst", analyzer=ParityAnalyzer())
    ctx = Recorder()
    stage = controller(s, ctx)
    ids = [add(s.storage, n) for n in range(1, count + 1)]
    await stage.process(Message(ids[0]))  # type: ignore[arg-type]
    assert shape(s.storage, count) == expected
    assert request_states(s.storage, count) == [RequestState.BATCHED] * count
    assert ctx.batched() == sorted(f"{QUEUE}/{n}" for n in range(1, count + 1))
    published = len(ctx.published)
    for other in ids[1:]:  # their own messages find them created and announced
        await stage.process(Message(other))  # type: ignore[arg-type]
    assert len(ctx.published) == published


async def test_a_burst_costs_as_many_statements_for_many_batches_as_for_few(
    tmp_path: Path,
) -> None:
    counts = []
    for size in (3, 30):
        s = Stack(tmp_path / str(size), analyzer=ParityAnalyzer())
        for n in range(1, 4):  # some in flight already
            await controller(s, Recorder()).process(Message(add(s.storage, n)))  # type: ignore[arg-type]
        ids = [add(s.storage, n) for n in range(4, 4 + size)]
        statements = [0]

        def count(*_: Any, into: list[int] = statements) -> None:
            into[0] += 1

        sa.event.listen(s.storage.engine, "before_cursor_execute", count)
        await controller(s, Recorder()).process(Message(ids[0]))  # type: ignore[arg-type]
        sa.event.remove(s.storage.engine, "before_cursor_execute", count)
        assert shape(s.storage, 3 + size)[-1][1] is BatchState.CREATED
        counts.append(statements[0])
    assert counts[0] == counts[1], counts


async def test_a_crash_in_the_middle_of_a_burst_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    count = 8
    expected = await one_at_a_time(tmp_path / "serial", count)
    s = Stack(tmp_path / "burst", analyzer=ParityAnalyzer())
    ids = [add(s.storage, n) for n in range(1, count + 1)]
    ctx = Recorder()

    # Killed inside the write: its transaction rolls back, nothing was created or announced.
    real_create = OrchestratorStorage.create_batches

    monkeypatch.setattr(OrchestratorStorage, "create_batches", killed_inside("sq_request"))
    with pytest.raises(SystemExit):
        await controller(s, ctx).process(Message(ids[0]))  # type: ignore[arg-type]
    assert {state for _, state, _, _ in shape(s.storage, count)} == {BatchState.CREATING}
    assert request_states(s.storage, count) == [RequestState.VALIDATED] * count
    assert ctx.published == {}
    monkeypatch.setattr(OrchestratorStorage, "create_batches", real_create)

    # Killed after the write, before announcing: the batches are created, their messages remain.
    async def dies(*_: Any) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(DependencyAnalysisController, "_announce", dies)
    with pytest.raises(SystemExit):
        await controller(s, ctx).process(Message(ids[0]))  # type: ignore[arg-type]
    monkeypatch.undo()
    assert shape(s.storage, count) == expected

    restarted = controller(s, ctx)  # a new process: it announced nothing yet
    for batch in ids:  # the named message is redelivered, the others arrive
        await restarted.process(Message(batch))  # type: ignore[arg-type]
    assert shape(s.storage, count) == expected
    assert ctx.batched() == sorted(f"{QUEUE}/{n}" for n in range(1, count + 1))
    woken = [p.id for (key, _, _), p in ctx.published.items() if key == m.TOPIC_SPECULATE]
    assert woken == [WAKE], "the restarted stage woke the queue: one wake-up for the window"


async def test_a_cancel_that_wins_the_race_stops_its_batch_and_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, analyzer=ParityAnalyzer())
    ids = [add(s.storage, n) for n in range(1, 7)]
    # Request 2 cancelled before the burst read it: its batch is abandoned, and batch 4 does not
    # depend on it.
    two = s.storage.get_request(QUEUE, f"{QUEUE}/2")
    assert two is not None
    s.storage.update_request(two, RequestState.CANCELLING)
    # Request 3 cancelled between the burst's write and its check: its batch is stopped.
    real_create = OrchestratorStorage.create_batches

    def cancel_after(self: OrchestratorStorage, *args: Any) -> Any:
        created = real_create(self, *args)
        three = self.get_request(QUEUE, f"{QUEUE}/3")
        assert three is not None
        self.update_request(three, RequestState.CANCELLING)
        return created

    monkeypatch.setattr(OrchestratorStorage, "create_batches", cancel_after)
    ctx = Recorder()
    await controller(s, ctx).process(Message(ids[0]))  # type: ignore[arg-type]
    states = {b: state for b, state, _, _ in shape(s.storage, 6)}
    assert states == {
        ids[0]: BatchState.CREATED,
        ids[1]: BatchState.CREATING,
        ids[2]: BatchState.CANCELLING,
        ids[3]: BatchState.CREATED,
        ids[4]: BatchState.CREATED,
        ids[5]: BatchState.CREATED,
    }
    four = s.storage.get_batch(QUEUE, ids[3])
    assert four is not None
    assert four.dependencies == ()
    woken = [p for (key, _, _), p in ctx.published.items() if key == m.TOPIC_SPECULATE]
    assert woken == [m.EntityRef(id=WAKE, queue=QUEUE)], "one wake-up: the batches and the stop"


async def test_a_request_in_two_creating_batches_goes_on_in_the_first_only(
    tmp_path: Path,
) -> None:
    s = Stack(tmp_path, analyzer=ParityAnalyzer())
    first = add(s.storage, 1)
    again = batch_id(QUEUE, 3)  # the batch stage ran twice for request 1 (a redelivery)
    s.storage.create_batch(Batch(id=again, queue=QUEUE, contains=(RequestID(f"{QUEUE}/1"),)))
    await controller(s, Recorder()).process(Message(first))  # type: ignore[arg-type]
    assert s.batch_state(first) is BatchState.CREATED
    assert s.batch_state(again) is BatchState.CREATING


def cancelled_while_creating(storage: OrchestratorStorage, n: int) -> None:
    """Request `n` is cancelled while its batch waits for analysis, as the cancel stage does it:
    `cancelling`, then, finding no batch to stop, `cancelled`; the batch is left `creating`."""
    request = storage.get_request(QUEUE, f"{QUEUE}/{n}")
    assert request is not None
    cancelling = storage.update_request(request, RequestState.CANCELLING)
    storage.update_request(cancelling, RequestState.CANCELLED)


async def test_a_batch_whose_requests_all_ended_is_cancelled_and_no_later_burst_reads_it(
    tmp_path: Path,
) -> None:
    s = Stack(tmp_path, analyzer=ParityAnalyzer())
    ctx = Recorder()
    ids = [add(s.storage, n) for n in range(1, 4)]
    cancelled_while_creating(s.storage, 2)
    stage = controller(s, ctx)
    await stage.process(Message(ids[0]))  # type: ignore[arg-type]
    states = {b: state for b, state, _, _ in shape(s.storage, 3)}
    assert states == {
        ids[0]: BatchState.CREATED,
        ids[1]: BatchState.CANCELLED,
        ids[2]: BatchState.CREATED,
    }
    published = len(ctx.published)
    await stage.process(Message(ids[1]))  # type: ignore[arg-type]  its own message: nothing to do
    assert len(ctx.published) == published

    four = add(s.storage, 4)
    intake = s.storage.read_intake(QUEUE)
    assert [b.id for b in intake.creating] == [four]
    assert set(intake.requests) == {RequestID(f"{QUEUE}/4")}
    await stage.process(Message(four))  # type: ignore[arg-type]
    assert s.storage.read_intake(QUEUE).creating == ()


async def test_ending_a_batch_survives_a_crash_and_happens_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = Stack(tmp_path, analyzer=ParityAnalyzer())
    ctx = Recorder()
    ids = [add(s.storage, n) for n in range(1, 4)]
    cancelled_while_creating(s.storage, 2)
    real_create = OrchestratorStorage.create_batches

    monkeypatch.setattr(OrchestratorStorage, "create_batches", killed_inside("sq_batch"))
    with pytest.raises(SystemExit):
        await controller(s, ctx).process(Message(ids[0]))  # type: ignore[arg-type]
    assert {state for _, state, _, _ in shape(s.storage, 3)} == {BatchState.CREATING}
    monkeypatch.setattr(OrchestratorStorage, "create_batches", real_create)

    async def dies(*_: Any) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(DependencyAnalysisController, "_announce", dies)
    with pytest.raises(SystemExit):
        await controller(s, ctx).process(Message(ids[0]))  # type: ignore[arg-type]
    monkeypatch.undo()

    restarted = controller(s, ctx)
    for batch in ids:  # the named message is redelivered, the others arrive
        await restarted.process(Message(batch))  # type: ignore[arg-type]
    ended = s.storage.get_batch(QUEUE, ids[1])
    assert ended is not None
    assert (ended.state, ended.version) == (BatchState.CANCELLED, 2), "ended exactly once"
    assert [s.batch_state(ids[0]), s.batch_state(ids[2])] == [BatchState.CREATED] * 2
    assert ctx.batched() == [f"{QUEUE}/1", f"{QUEUE}/3"]
