"""One speculate run per burst of signals: settle, then run; covered signals need no run."""

from __future__ import annotations

import pytest

from sq.submitqueue.orchestrator.controller.speculate_schedule import (
    Decision,
    RunSchedule,
    Wait,
    wake_id,
)


def test_a_signal_settles_after_the_end_of_its_window_then_runs() -> None:
    schedule = RunSchedule(settle_ms=100)  # windows of 100 ms: 1000-1099 is one
    assert schedule.decide("q", published_ms=1000, now_ms=1000) == Wait(200)
    assert schedule.decide("q", published_ms=1099, now_ms=1150) == Wait(50)
    assert schedule.decide("q", published_ms=1000, now_ms=1200) is Decision.RUN


def test_a_run_covers_every_signal_that_had_settled_when_it_read() -> None:
    schedule = RunSchedule(settle_ms=100)
    schedule.ran("q", read_ms=1200)
    assert schedule.decide("q", published_ms=1099, now_ms=1300) is Decision.COVERED
    assert schedule.decide("q", published_ms=990, now_ms=1300) is Decision.COVERED
    assert schedule.decide("q", published_ms=1100, now_ms=1300) is Decision.RUN  # next window
    assert schedule.decide("other", published_ms=1000, now_ms=1300) is Decision.RUN  # per queue


def test_a_signal_published_during_a_run_causes_exactly_one_more_run() -> None:
    schedule = RunSchedule(settle_ms=100)
    schedule.ran("q", read_ms=1200)  # signals at 1205 and 1250 arrive while it runs
    assert schedule.decide("q", published_ms=1205, now_ms=1380) == Wait(20)
    assert schedule.decide("q", published_ms=1205, now_ms=1400) is Decision.RUN
    schedule.ran("q", read_ms=1400)
    assert schedule.decide("q", published_ms=1250, now_ms=1450) is Decision.COVERED


def test_wake_ups_of_one_window_share_an_id_and_a_run_reads_after_the_window() -> None:
    schedule = RunSchedule(settle_ms=100)
    first, last = wake_id("q", 1000, 100), wake_id("q", 1099, 100)
    assert first == last  # one pending message for the whole window
    assert wake_id("q", 1100, 100) != first
    assert wake_id("other", 1000, 100) != first
    # Stored at the first publish; the run it causes reads after the last one it absorbed.
    assert schedule.settled_at(1000) > 1099


def test_without_a_settle_time_every_wake_up_is_its_own_message() -> None:
    assert wake_id("q", 5, 0) != wake_id("q", 5, 0)


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
