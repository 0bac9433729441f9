"""The naming checker the metrics tests rely on finds each kind of mistake it claims to."""

from __future__ import annotations

from support.metric_names import naming_errors, value

GOOD = """# TYPE sq_landings_total counter
sq_landings_total{queue="q"} 2.0
# TYPE sq_requests gauge
sq_requests{queue="q",status="landed"} 2.0
# TYPE sq_accept_to_landed_seconds histogram
sq_accept_to_landed_seconds_bucket{le="1.0",queue="q"} 1.0
sq_accept_to_landed_seconds_bucket{le="+Inf",queue="q"} 2.0
sq_accept_to_landed_seconds_count{queue="q"} 2.0
sq_accept_to_landed_seconds_sum{queue="q"} 3.5
"""


def test_conventional_names_pass_and_values_are_read() -> None:
    assert naming_errors(GOOD) == []
    assert value(GOOD, "sq_landings_total", queue="q") == 2.0
    assert value(GOOD, "sq_accept_to_landed_seconds_count") == 2.0
    assert value(GOOD, "sq_nothing") == 0.0


def test_each_mistake_is_reported() -> None:
    bad = """# TYPE sq_builds_total gauge
sq_builds_total 1.0
# TYPE sq_wait_ms gauge
sq_wait_ms 5.0
# TYPE sq_merge_latency histogram
sq_merge_latency_bucket{le="+Inf"} 1.0
sq_merge_latency_count 1.0
sq_merge_latency_sum 1.0
# TYPE sq_seconds_spent gauge
sq_seconds_spent 1.0
"""
    errors = naming_errors(bad)
    assert any(e.startswith("sq_builds_total:") for e in errors)
    assert any(e.startswith("sq_wait_ms:") for e in errors)
    assert any(e.startswith("sq_merge_latency:") for e in errors)
    assert any(e.startswith("sq_seconds_spent:") for e in errors)
