"""The intake stages as window controllers: a window of requests on start, validate,
mergeconflictsignal and batch ends exactly as the same messages handled one at a time (states,
claims, batches, every message published, with its id), in a number of statements that does
not grow with the window; a window that cannot be written whole is handled one at a time."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest
from pydantic import BaseModel

from sq.api import runway as rw
from sq.platform.errs import UserError, VersionMismatchError
from sq.platform.messagequeue import Delivery
from sq.platform.pipeline import StageContext, TopicRegistry
from sq.submitqueue.core import messages as m
from sq.submitqueue.core.batching import BatchPolicy
from sq.submitqueue.entity.request import RequestState
from sq.submitqueue.orchestrator.controller.batch import BatchController
from sq.submitqueue.orchestrator.controller.mergeconflictsignal import (
    MergeConflictSignalController,
)
from sq.submitqueue.orchestrator.controller.start import StartController
from sq.submitqueue.orchestrator.controller.validate import ValidateController
from support.sq_stack import QUEUE, Stack
from support.statements import Statements

pytestmark = pytest.mark.anyio


class Recorder:
    """The stages' queue: what was published, in order, once per (topic, partition, id)."""

    def __init__(self) -> None:
        self.published: dict[tuple[str, str, str], Any] = {}

    async def publish(
        self,
        key: str,
        partition: str,
        message_id: str,
        payload: Any,
        metadata: Any = None,
    ) -> bool:
        first = (key, partition, message_id) not in self.published
        self.published.setdefault((key, partition, message_id), payload.model_dump(mode="json"))
        return first

    def in_order(self) -> dict[tuple[str, str], list[str]]:
        """The ids published to each partition, in order."""
        found: dict[tuple[str, str], list[str]] = {}
        for key, partition, message_id in self.published:
            found.setdefault((key, partition), []).append(message_id)
        return found

    def sent(self, key: str) -> list[Any]:
        return [p for (k, _, _), p in self.published.items() if k == key]


class SameNames(TopicRegistry):
    def name(self, key: str) -> str:
        return key


class Message:
    """A delivery, as far as the intake stages read one."""

    def __init__(self, payload: BaseModel | dict[str, Any]) -> None:
        body = payload if isinstance(payload, dict) else payload.model_dump(mode="json")
        self._body = json.dumps(body)
        self.metadata: dict[str, str] = {}

    def json(self) -> Any:
        return json.loads(self._body)


class Stage(Protocol):
    async def process(self, delivery: Delivery) -> None: ...
    async def process_window(self, deliveries: Sequence[Delivery]) -> None: ...


def land(n: int, name: str | None = None) -> m.LandRequest:
    uri = f"fake://example.com/{name or n}"
    return m.LandRequest(id=f"{QUEUE}/{n}", queue=QUEUE, change=m.ChangeRef(uris=(uri,)))


def verdict(request: dict[str, Any], refused: Sequence[str]) -> rw.MergeResult:
    if request["id"] in refused:
        return rw.MergeResult(
            id=request["id"],
            queue_name=request["queue_name"],
            outcome=rw.Outcome.FAILED,
            reason="conflicts",
        )
    return rw.MergeResult(
        id=request["id"], queue_name=request["queue_name"], outcome=rw.Outcome.SUCCEEDED
    )


class Intake:
    """One stack's four intake stages, each handed all of its messages as one window, or one
    message at a time; counts the statements each stage ran."""

    def __init__(self, tmp: Path, *, windowed: bool, batching: BatchPolicy | None = None) -> None:
        self.s = Stack(tmp, batching=batching)
        self.ctx = Recorder()
        self.windowed = windowed
        self.statements: dict[str, int] = {}
        deps = self.s.deps
        ctx = StageContext(
            queue=self.ctx,  # type: ignore[arg-type]
            topics=SameNames({}),
            topic_key="intake",
            consumer_group="orchestrator",
        )
        self.start = StartController(deps, ctx)
        self.validate = ValidateController(deps, ctx)
        self.signal = MergeConflictSignalController(deps, ctx)
        self.batch = BatchController(deps, ctx)

    async def run(self, stage: Stage, payloads: Sequence[BaseModel | dict[str, Any]]) -> None:
        deliveries: Any = [Message(p) for p in payloads]
        with Statements(self.s.storage.engine) as statements:
            if self.windowed:
                await stage.process_window(deliveries)
            else:
                for delivery in deliveries:
                    await stage.process(delivery)
        self.statements[type(stage).__name__] = len(statements.seen)

    async def through(self, lands: Sequence[m.LandRequest], refused: Sequence[str] = ()) -> None:
        await self.run(self.start, lands)
        await self.run(self.validate, self.ctx.sent(m.TOPIC_VALIDATE))
        asked = self.ctx.sent(rw.TOPIC_MERGE_CONFLICT_CHECK)
        await self.run(self.signal, [verdict(r, refused) for r in asked])
        await self.run(self.batch, self.ctx.sent(m.TOPIC_BATCH))

    def outcome(self, count: int) -> tuple[Any, ...]:
        storage = self.s.storage
        requests = [storage.get_request(QUEUE, f"{QUEUE}/{n}") for n in range(1, count + 1)]
        batches = storage.get_batches(QUEUE, [f"{QUEUE}/batch/{n}" for n in range(1, count + 1)])
        return (
            [(r.state, r.version) if r else None for r in requests],
            [(b.id, b.contains, b.state) for b in batches.values()],
            [[c.uri for c in storage.changes_of(r)] for r in requests if r],
            [storage.claimants(QUEUE, f"fake://example.com/{n}") for n in range(1, count + 1)],
        )


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Intake, Intake]]:
    pair = (
        Intake(tmp_path / "one-at-a-time", windowed=False),
        Intake(tmp_path / "windowed", windowed=True),
    )
    yield pair
    for intake in pair:
        intake.s.storage.engine.dispose()


def states(intake: Intake, count: int) -> list[RequestState | None]:
    return [s[0] if s else None for s in intake.outcome(count)[0]]


async def test_a_window_of_requests_ends_as_they_end_one_at_a_time(
    pair: tuple[Intake, Intake],
) -> None:
    lands = [land(n) for n in range(1, 9)]
    for intake in pair:
        await intake.through(lands)
    alone, windowed = pair
    assert windowed.outcome(8) == alone.outcome(8)
    assert states(windowed, 8) == [RequestState.VALIDATED] * 8
    assert windowed.ctx.published == alone.ctx.published
    assert windowed.ctx.in_order() == alone.ctx.in_order()


async def test_a_window_costs_as_many_statements_for_many_requests_as_for_few(
    tmp_path: Path,
) -> None:
    costs = []
    for count in (2, 12):
        intake = Intake(tmp_path / str(count), windowed=True)
        await intake.through([land(n) for n in range(1, count + 1)])
        assert states(intake, count) == [RequestState.VALIDATED] * count
        assert len(intake.ctx.sent(m.TOPIC_DEPENDENCY_ANALYSIS)) == count
        costs.append(intake.statements)
    assert costs[0] == costs[1]


async def test_a_cancel_that_overtook_one_request_of_a_window_cancels_only_that_one(
    pair: tuple[Intake, Intake],
) -> None:
    for intake in pair:
        intake.s.storage.put_cancel_intent(QUEUE, f"{QUEUE}/2", "changed my mind")
        await intake.through([land(n) for n in range(1, 5)])
    alone, windowed = pair
    assert windowed.outcome(4) == alone.outcome(4)
    assert states(windowed, 4) == [
        RequestState.VALIDATED,
        RequestState.CANCELLED,
        RequestState.VALIDATED,
        RequestState.VALIDATED,
    ]
    assert windowed.ctx.published == alone.ctx.published
    assert [p["id"] for p in windowed.ctx.sent(m.TOPIC_VALIDATE)] == [
        f"{QUEUE}/1",
        f"{QUEUE}/3",
        f"{QUEUE}/4",
    ]


async def test_a_request_that_repeats_a_change_claimed_earlier_in_its_window_is_a_duplicate(
    pair: tuple[Intake, Intake],
) -> None:
    # 3 repeats 1's change in the same window; 5 repeats 3's, which is refused, so 5 is a
    # duplicate of 1 (still in flight), not of 3.
    lands = [land(1, "a"), land(2, "b"), land(3, "a"), land(4, "c"), land(5, "a")]
    for intake in pair:
        await intake.through(lands)
    alone, windowed = pair
    assert windowed.outcome(5) == alone.outcome(5)
    assert states(windowed, 5) == [
        RequestState.VALIDATED,
        RequestState.VALIDATED,
        RequestState.ERROR,
        RequestState.VALIDATED,
        RequestState.ERROR,
    ]
    assert windowed.ctx.published == alone.ctx.published
    errors = [
        p["last_error"]
        for p in windowed.ctx.sent(m.TOPIC_LOG)
        if p["status"] == RequestState.ERROR.value
    ]
    assert errors == [
        f"request {QUEUE}/3 is a duplicate of in-flight request {QUEUE}/1",
        f"request {QUEUE}/5 is a duplicate of in-flight request {QUEUE}/1",
    ]


async def test_a_request_whose_dry_run_failed_ends_in_error_and_the_rest_of_its_window_goes_on(
    pair: tuple[Intake, Intake],
) -> None:
    for intake in pair:
        await intake.through([land(n) for n in range(1, 5)], refused=[f"{QUEUE}/3"])
    alone, windowed = pair
    assert windowed.outcome(4) == alone.outcome(4)
    assert states(windowed, 4)[2] is RequestState.ERROR
    assert windowed.ctx.published == alone.ctx.published
    assert len(windowed.ctx.sent(m.TOPIC_DEPENDENCY_ANALYSIS)) == 3


async def test_with_batching_a_window_forms_batches_as_its_messages_do_one_at_a_time(
    tmp_path: Path,
) -> None:
    policy = BatchPolicy(max_size=3, max_wait_ms=60_000)
    pair = [
        Intake(tmp_path / "one-at-a-time", windowed=False, batching=policy),
        Intake(tmp_path / "windowed", windowed=True, batching=policy),
    ]
    for intake in pair:
        await intake.through([land(n) for n in range(1, 8)])
    alone, windowed = pair
    assert windowed.outcome(7) == alone.outcome(7)
    assert windowed.ctx.published == alone.ctx.published
    batches = windowed.outcome(7)[1]
    assert [contains for _, contains, _ in batches] == [
        (f"{QUEUE}/1", f"{QUEUE}/2", f"{QUEUE}/3"),
        (f"{QUEUE}/4", f"{QUEUE}/5", f"{QUEUE}/6"),
    ]


async def test_a_window_redelivered_writes_and_publishes_nothing_new(tmp_path: Path) -> None:
    intake = Intake(tmp_path, windowed=True)
    lands = [land(n) for n in range(1, 5)]
    await intake.through(lands)
    before, published = intake.outcome(4), dict(intake.ctx.published)
    await intake.run(intake.start, lands)
    await intake.run(intake.validate, intake.ctx.sent(m.TOPIC_VALIDATE))
    asked = intake.ctx.sent(rw.TOPIC_MERGE_CONFLICT_CHECK)
    await intake.run(intake.signal, [verdict(r, ()) for r in asked])
    assert intake.outcome(4) == before
    assert intake.ctx.published == published


async def test_a_window_with_a_request_changed_since_it_was_read_writes_none_of_it(
    tmp_path: Path,
) -> None:
    intake = Intake(tmp_path, windowed=True)
    lands = [land(n) for n in range(1, 4)]
    await intake.run(intake.start, lands)
    await intake.run(intake.validate, intake.ctx.sent(m.TOPIC_VALIDATE))
    storage = intake.s.storage
    read = storage.get_requests

    def then_changed(queue: str, ids: Sequence[str]) -> Any:
        found = read(queue, ids)
        second = storage.get_request(QUEUE, f"{QUEUE}/2")
        assert second is not None
        storage.update_request(second, RequestState.STARTED)  # a version bump under the window
        return found

    storage.get_requests = then_changed  # type: ignore[method-assign]
    asked = intake.ctx.sent(rw.TOPIC_MERGE_CONFLICT_CHECK)
    with pytest.raises(VersionMismatchError):
        await intake.run(intake.signal, [verdict(r, ()) for r in asked])
    assert states(intake, 3) == [RequestState.STARTED] * 3
    assert intake.ctx.sent(m.TOPIC_BATCH) == []


async def test_a_window_with_a_malformed_message_fails_before_writing_anything(
    tmp_path: Path,
) -> None:
    intake = Intake(tmp_path, windowed=True)
    lands: list[Any] = [land(1), {"id": f"{QUEUE}/2"}, land(3)]
    with pytest.raises(UserError, match="malformed"):
        await intake.run(intake.start, lands)
    assert states(intake, 3) == [None, None, None]
    assert intake.ctx.published == {}


async def test_a_window_whose_write_fails_is_started_one_message_at_a_time(
    tmp_path: Path,
) -> None:
    s = Stack(tmp_path)
    windows: list[int] = []
    start = s.orchestrator.controllers[m.TOPIC_START]
    whole = start.process_window  # type: ignore[attr-defined]

    async def counted(deliveries: Sequence[Delivery]) -> None:
        windows.append(len(deliveries))
        await whole(deliveries)

    def broken(requests: Any) -> None:
        raise RuntimeError("disk I/O error")

    start.process_window = counted  # type: ignore[attr-defined]
    s.storage.create_requests = broken  # type: ignore[method-assign]
    await s.start()
    landing = [await s.land(name) for name in ("a", "b", "c")]
    await s.settle()
    await s.release()
    assert windows == [3]
    assert [s.log.final(r) for r in landing] == ["landed"] * 3
    assert s.dead_letters() == []
    await s.stop()


async def test_a_batch_window_handled_again_creates_no_second_batch(
    pair: tuple[Intake, Intake],
) -> None:
    """As after a window whose log flush or publish failed (the platform then hands each of its
    messages to `process`), or a crash before its messages were acked: each request keeps the one
    batch it was given, and the analysis asked for is the same."""
    for intake in pair:
        await intake.through([land(n) for n in range(1, 4)])
        before, asked = intake.outcome(6), intake.ctx.sent(m.TOPIC_DEPENDENCY_ANALYSIS)
        messages = intake.ctx.sent(m.TOPIC_BATCH)
        await intake.run(intake.batch, messages)  # the same way again
        for message in messages:  # and one message at a time, as the fallback does
            await intake.batch.process(Message(message))  # type: ignore[arg-type]
        assert intake.outcome(6) == before
        assert [b[1] for b in before[1]] == [(f"{QUEUE}/{n}",) for n in range(1, 4)]
        assert intake.ctx.sent(m.TOPIC_DEPENDENCY_ANALYSIS) == asked
