"""Refusals, cancellations and dead letters: every request still reaches a terminal state."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from sq.platform.build import STOPPED_WITH_RUNNER, BuildState
from sq.runway.extension.merger.fake import FakeMerger
from sq.submitqueue.entity.pathset import DEFAULT_MAX_ATTEMPTS
from support.sq_stack import QUEUE, Stack

pytestmark = pytest.mark.anyio


async def started(tmp_path: Path, **kw: object) -> Stack:
    stack = Stack(tmp_path, **kw)  # type: ignore[arg-type]
    await stack.start()
    return stack


async def test_a_duplicate_of_an_in_flight_change_is_refused(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("same")
    await s.settle()
    b = await s.land("same")
    await s.settle()
    assert s.log.final(b) == "error"
    assert a in s.log.last_error(b)
    await s.release()
    assert s.log.final(a) == "landed"
    await s.stop()


async def test_a_cancel_that_overtakes_its_start_is_honoured(tmp_path: Path) -> None:
    s = await started(tmp_path)
    await s.cancel(f"{QUEUE}/1", "changed my mind")
    await s.settle()
    a = await s.land("a")
    await s.settle()
    assert s.log.final(a) == "cancelled"
    assert s.builds() == 0
    await s.stop()


async def test_cancel_before_batching_never_lands(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    await s.cancel(a)
    await s.settle()
    await s.release()
    assert s.log.final(a) == "cancelled"
    assert s.order_landed() == []
    await s.stop()


@pytest.mark.parametrize("marker", ["provider-error", "trigger-error", "build-error"])
async def test_dead_letters_end_in_error_without_blocking_others(
    tmp_path: Path, marker: str
) -> None:
    s = await started(tmp_path)
    a = await s.land("a", fake=marker)
    b = await s.land("b")
    await s.settle(dead_letters=1)
    for _ in range(4):
        await s.release()
    assert s.log.final(a) == "error"
    assert "dead-lettered" in s.log.last_error(a)
    assert s.log.final(b) == "landed"
    assert s.dead_letters()  # the failure went through a DLQ reconciler
    await s.stop()


def broken_once(create: Callable[[Any], Any]) -> Callable[[Any], Any]:
    calls = 0

    def broken(request: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("no such column: priority")  # a bug, not a transient failure
        return create(request)

    return broken


async def test_a_start_dead_lettered_before_its_request_was_stored_ends_in_error(
    tmp_path: Path,
) -> None:
    """Nothing but the land message names the request: its reconciler must store and end it, or
    the gateway shows it `accepted` for ever."""
    s = await started(tmp_path)
    s.storage.create_request = broken_once(s.storage.create_request)  # type: ignore[method-assign]
    # A window of both fails first, and each is then started alone.
    s.storage.create_requests = broken_once(s.storage.create_requests)  # type: ignore[method-assign]
    a = await s.land("a")
    b = await s.land("b")
    await s.settle(dead_letters=1)
    await s.release()
    assert s.log.final(a) == "error"
    assert "no such column" in s.log.last_error(a)
    assert s.log.final(b) == "landed"
    await s.stop()


async def test_a_connection_the_database_refuses_is_retried_not_dead_lettered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loaded PostgreSQL refusing a connection (all slots taken) once, as buildsignal reads the
    # ended build: the twin's paper run dead-lettered that signal, and the reconciler failed a
    # good change's batch.
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    get_build = s.storage.get_build
    refusals = [psycopg.OperationalError("connection failed: FATAL: too many clients already")]

    def refused_once(*args: Any) -> Any:
        if refusals:
            raise refusals.pop()
        return get_build(*args)

    monkeypatch.setattr(s.storage, "get_build", refused_once)
    await s.release()
    assert not refusals  # the refusal happened
    assert s.log.final(a) == "landed"
    assert s.dead_letters() == []
    await s.stop()


async def test_a_build_failure_is_reported_with_its_reason(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a", fake="build-fail")
    await s.settle()
    await s.release()
    assert s.log.final(a) == "error"
    assert s.log.events(a) == ["building", "build-failed"]
    failed = [e for e in s.log.entries if e.event == "build-failed"]
    assert failed[0].metadata["log_tail"].startswith("fake build ")
    await s.stop()


@pytest.mark.parametrize("marker", ["merge-conflict", "merge-invalid", "merge-error"])
async def test_runway_refusals_and_dead_letters_are_answered(tmp_path: Path, marker: str) -> None:
    s = await started(tmp_path, merger=FakeMerger())
    a = await s.land("a", fake=marker)
    b = await s.land("b")
    await s.settle(dead_letters=1 if marker == "merge-error" else 0)
    for _ in range(4):
        await s.release()
    assert s.log.final(a) == "error"
    expected = "dead-lettered" if marker == "merge-error" else marker
    assert expected in s.log.last_error(a)
    assert s.log.final(b) == "landed"
    await s.stop()


async def test_a_stack_lands_as_one_request(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("stacked", stack=3)
    await s.settle()
    await s.release()
    assert s.log.final(a) == "landed"
    assert s.builds() == 1
    await s.stop()


async def test_a_build_ci_cancelled_on_its_own_is_built_again(tmp_path: Path) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    [first] = s.runner.running()
    s.runner.finish(first.build_id, BuildState.CANCELLED)  # nobody asked for it
    await s.settle()
    [second] = s.runner.running()
    assert second.build_id.endswith("/2")  # the same path, attempt 2
    await s.release()
    assert s.log.final(a) == "landed"
    assert s.builds() == 2
    await s.stop()


async def test_a_build_its_runner_keeps_losing_is_built_again_and_lands(tmp_path: Path) -> None:
    # A restarted runner forgets its builds: not CI's verdict, so no cap applies and the change
    # lands once a build of it finishes, however many restarts came before.
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    for _ in range(DEFAULT_MAX_ATTEMPTS + 2):
        [running] = s.runner.running()
        s.runner.forget(running.build_id)
        await s.settle()
    [last] = s.runner.running()
    assert last.build_id.endswith(f"/{DEFAULT_MAX_ATTEMPTS + 3}")  # the same path, built again
    await s.release()
    assert s.log.final(a) == "landed"
    assert s.builds() == DEFAULT_MAX_ATTEMPTS + 3
    await s.stop()


async def test_builds_stopped_with_their_runner_do_not_count_as_ci_cancelling(
    tmp_path: Path,
) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    for _ in range(DEFAULT_MAX_ATTEMPTS + 1):
        [running] = s.runner.running()
        s.runner.finish(running.build_id, BuildState.CANCELLED, STOPPED_WITH_RUNNER)  # a shutdown
        await s.settle()
    await s.release()
    assert s.log.final(a) == "landed"
    await s.stop()


async def test_a_head_whose_builds_ci_keeps_cancelling_fails_instead_of_waiting(
    tmp_path: Path,
) -> None:
    s = await started(tmp_path)
    a = await s.land("a")
    await s.settle()
    for _ in range(DEFAULT_MAX_ATTEMPTS):
        [running] = s.runner.running()
        s.runner.finish(running.build_id, BuildState.CANCELLED)
        await s.settle()
    assert s.runner.running() == []
    assert s.log.final(a) == "error"
    assert "no speculation path could pass" in s.log.last_error(a)
    assert s.builds() == DEFAULT_MAX_ATTEMPTS
    await s.stop()
