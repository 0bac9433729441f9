"""Regression tests for Stovepipe defects (issue #6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform import errs
from sq.platform.build import BuildState
from sq.stovepipe.deps import QueueSetup
from sq.stovepipe.entity import FailureReason, Request, RequestState
from sq.stovepipe.storage import SqlStorage
from support.stovepipe import Q, Stovepipe

pytestmark = pytest.mark.anyio


class OutcomeWriteFailsOnce(SqlStorage):
    """The first write of a `failed` outcome hits a database blip after the Build row was
    written, so buildsignal's delivery is redelivered with the build already terminal."""

    failed_once = False

    def update_request(self, request: Request) -> Request:
        if request.state is RequestState.FAILED and not self.failed_once:
            self.failed_once = True
            raise errs.RetryableError("database blip")
        return super().update_request(request)


@pytest.mark.parametrize(
    ("setup", "outcome", "reason"),
    [
        ({}, BuildState.ERROR, FailureReason.BUILD_ERROR),
        ({"max_validation_ms": 1}, None, FailureReason.DEADLINE),
    ],
)
async def test_a_redelivered_buildsignal_keeps_the_failure_reason(
    tmp_path: Path, setup: dict[str, int], outcome: BuildState | None, reason: FailureReason
) -> None:
    sp = Stovepipe(
        tmp_path,
        setup=QueueSetup(name=Q, full_command="make", **setup),
        storage=OutcomeWriteFailsOnce,
    )
    await sp.start()
    if outcome is None:
        sp.runner.hold.add("A")
    else:
        sp.runner.outcomes["A"] = outcome
    [a] = await sp.push_and_ingest("A")
    await sp.settle()
    for _ in range(3):
        await sp.advance(2)
    assert isinstance(sp.store, OutcomeWriteFailsOnce) and sp.store.failed_once
    request = sp.request(a)
    assert (request.state, request.failure_reason) == (RequestState.FAILED, reason)
    assert sp.queue().in_flight_count == 0
    await sp.stop()
