"""One speculate run per burst of signals: settle, then run; covered signals need no run."""

from __future__ import annotations

import pytest

from sq.submitqueue.orchestrator.controller.speculate_schedule import (
    Decision,
    RunSchedule,
    Wait,
)


def test_a_signal_waits_until_it_settles_then_runs() -> None:
    schedule = RunSchedule(settle_ms=100)
    assert schedule.decide("q", published_ms=1000, now_ms=1000) == Wait(100)
    assert schedule.decide("q", published_ms=1000, now_ms=1060) == Wait(40)
    assert schedule.decide("q", published_ms=1000, now_ms=1100) is Decision.RUN


def test_a_run_covers_every_signal_that_had_settled_when_it_read() -> None:
    schedule = RunSchedule(settle_ms=100)
    schedule.ran("q", read_ms=1100)
    assert schedule.decide("q", published_ms=1000, now_ms=1200) is Decision.COVERED
    assert schedule.decide("q", published_ms=990, now_ms=1200) is Decision.COVERED
    assert schedule.decide("other", published_ms=1000, now_ms=1200) is Decision.RUN  # per queue


def test_a_signal_published_during_a_run_causes_exactly_one_more_run() -> None:
    schedule = RunSchedule(settle_ms=100)
    schedule.ran("q", read_ms=1100)  # signals at 1105 and 1150 arrive while it runs
    assert schedule.decide("q", published_ms=1105, now_ms=1180) == Wait(25)
    assert schedule.decide("q", published_ms=1105, now_ms=1205) is Decision.RUN
    schedule.ran("q", read_ms=1260)
    assert schedule.decide("q", published_ms=1150, now_ms=1300) is Decision.COVERED


def test_coverage_never_moves_back() -> None:
    schedule = RunSchedule(settle_ms=0)
    schedule.ran("q", read_ms=500)
    schedule.ran("q", read_ms=400)  # a slower, older run finishing late
    assert schedule.decide("q", published_ms=450, now_ms=600) is Decision.COVERED


def test_without_a_settle_time_a_signal_runs_at_once() -> None:
    assert RunSchedule(settle_ms=0).decide("q", published_ms=5, now_ms=5) is Decision.RUN


def test_a_negative_settle_time_is_refused() -> None:
    with pytest.raises(ValueError, match="must not be negative"):
        RunSchedule(settle_ms=-1)
