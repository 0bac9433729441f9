"""What a demo or replay queue built, read from the orchestrator's `/metrics`."""

from __future__ import annotations

from dataclasses import dataclass

import httpx2
from prometheus_client.parser import text_string_to_metric_families


@dataclass(frozen=True, slots=True)
class BuildCounts:
    """What the orchestrator's `/metrics` says the queue built."""

    funded: int
    passed: int
    failed: int
    cancelled: int
    preempted: int
    lost: int = 0

    def per_landed(self, landed: int) -> float | None:
        return self.funded / landed if landed else None

    def describe(self, landed: int) -> str:
        """`Builds: 12 (10 passed, …), 1.20 per landed change.`"""
        per = self.per_landed(landed)
        return (
            f"Builds: {self.funded} ({self.passed} passed, {self.failed} failed, "
            f"{self.cancelled} cancelled of which {self.preempted} preempted"
            + (f", {self.lost} lost to a restart" if self.lost else "")
            + ")"
            + (f", {per:.2f} per landed change." if per is not None else ".")
        )


async def read_build_counts(address: str, queue: str) -> BuildCounts:
    """The queue's builds from the `/metrics` of the stack at `address`."""
    async with httpx2.AsyncClient(base_url=address, timeout=10.0) as http:
        answer = await http.get("/metrics/")
    return build_counts(answer.raise_for_status().text, queue)


def build_counts(metrics: str, queue: str) -> BuildCounts:
    """The queue's builds from the orchestrator's `/metrics` text."""
    values: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.labels.get("queue") == queue:
                values[(sample.name, sample.labels.get("outcome", ""))] = sample.value

    def count(name: str, outcome: str = "") -> int:
        return round(values.get((name, outcome), 0.0))

    return BuildCounts(
        funded=count("sq_builds_funded_total"),
        passed=count("sq_builds_finished_total", "passed"),
        failed=count("sq_builds_finished_total", "failed"),
        cancelled=count("sq_builds_finished_total", "cancelled"),
        preempted=count("sq_builds_preempted_total"),
        lost=count("sq_builds_finished_total", "lost"),
    )
