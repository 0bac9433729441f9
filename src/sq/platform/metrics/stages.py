"""What every stage does with its messages, counted once in the platform's controller wrapper
(`sq.platform.consumer`), so that no stage instruments itself."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

_LABELS = ["stage", "consumer_group"]

PROCESSED = Counter(
    "sq_stage_messages_processed_total",
    "Messages a stage handled without error (acked, or held to come back later)",
    _LABELS,
)
FAILED = Counter(
    "sq_stage_messages_failed_total",
    "Messages whose handling raised a retryable error (redelivered after a backoff)",
    _LABELS,
)
DEAD_LETTERED = Counter(
    "sq_stage_messages_dead_lettered_total",
    "Messages moved to the stage's dead-letter topic",
    _LABELS,
)
WINDOWS_FAILED = Counter(
    "sq_stage_windows_failed_total",
    "Windows a window controller raised on, whose messages were then handled one at a time",
    _LABELS,
)
PROCESSING = Histogram(
    "sq_stage_processing_seconds",
    "Time a stage's handler took for one message, whatever its outcome",
    _LABELS,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
