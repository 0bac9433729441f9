"""Writing results: CSV, a markdown table, a PNG chart (when matplotlib is installed), RESULT."""

from __future__ import annotations

import csv
import importlib.util
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sq.platform import summary
from sq.platform.summary import Align
from sq.sim.metrics import StrategyMetrics
from sq.sim.runner import ScenarioResult

CSV_NAME = "sim.csv"
PNG_NAME = "sim.png"

CSV_FIELDS = (
    "scenario",
    "headline",
    "seed",
    "rate_per_hour",
    "capacity",
    "build_minutes",
    "build_distribution",
    "failure_probability",
    "conflict",
    "flaky_rate",
    "failure_model",
    "window_hours",
    "tail_hours",
    "drain_hours",
    "changes",
    "bad_share",
    "strategy",
    "landed",
    "rejected",
    "false_rejections",
    "censored",
    "arrived",
    "landed_vs_arrived",
    "throughput_per_hour",
    "p50_min",
    "p95_min",
    "p99_min",
    "p50_vs_oracle",
    "p95_vs_oracle",
    "p99_vs_oracle",
    "builds_per_landed",
    "build_hours_per_landed",
    "cancelled_builds",
    "wait_min",
    "build_min",
    "hold_min",
    "dependencies_mean",
    "verified",
    "violations",
    "seconds",
)


def ratio(value: float, oracle: float) -> float:
    return value / oracle if oracle > 0 and not math.isnan(oracle) else math.nan


def csv_rows(results: Sequence[ScenarioResult]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for result in results:
        oracle = result.row("oracle")
        rows.extend(_csv_row(result, m, oracle) for m in result.rows)
    return rows


def _csv_row(
    result: ScenarioResult, m: StrategyMetrics, oracle: StrategyMetrics | None
) -> dict[str, Any]:
    spec = result.scenario.workload
    return {
        "scenario": result.scenario.name,
        "headline": int(result.scenario.headline),
        "seed": result.seed,
        "rate_per_hour": spec.rate_per_hour,
        "capacity": result.scenario.capacity,
        "build_minutes": spec.build_minutes,
        "build_distribution": spec.build_distribution.value,
        "failure_probability": spec.failure_probability,
        "conflict": spec.conflict.label(),
        "flaky_rate": spec.flaky_rate,
        "failure_model": spec.failure_model.value,
        "window_hours": spec.window_hours - spec.warmup_hours,
        "tail_hours": spec.tail_hours,
        "drain_hours": spec.drain_hours,
        "changes": result.changes,
        "bad_share": round(result.bad_share, 4),
        "strategy": m.strategy,
        "landed": m.landed,
        "rejected": m.rejected,
        "false_rejections": m.false_rejections,
        "censored": m.censored,
        "arrived": m.arrived,
        "landed_vs_arrived": _r(m.landed_vs_arrived),
        "throughput_per_hour": round(m.throughput_per_hour, 2),
        "p50_min": round(m.p50_min, 2),
        "p95_min": round(m.p95_min, 2),
        "p99_min": round(m.p99_min, 2),
        "p50_vs_oracle": _r(ratio(m.p50_min, oracle.p50_min) if oracle else math.nan),
        "p95_vs_oracle": _r(ratio(m.p95_min, oracle.p95_min) if oracle else math.nan),
        "p99_vs_oracle": _r(ratio(m.p99_min, oracle.p99_min) if oracle else math.nan),
        "builds_per_landed": round(m.builds_per_landed, 3),
        "build_hours_per_landed": round(m.build_hours_per_landed, 3),
        "cancelled_builds": m.cancelled_builds,
        "wait_min": round(m.wait_min, 2),
        "build_min": round(m.build_min, 2),
        "hold_min": round(m.hold_min, 2),
        "dependencies_mean": "" if m.dependencies_mean is None else _r(m.dependencies_mean),
        "verified": "yes" if m.verified else "no",
        "violations": len(m.violations),
        "seconds": round(result.seconds.get(m.strategy, math.nan), 1),
    }


def _r(value: float) -> float:
    return round(value, 3)


def write_csv(results: Sequence[ScenarioResult], path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_FIELDS)
        writer.writeheader()
        writer.writerows(csv_rows(results))


def write_files(results: Sequence[ScenarioResult], out_dir: Path) -> str:
    """Write the CSV into `out_dir`, and the chart when matplotlib is installed; a note to print
    when it is not ("" otherwise)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(results, out_dir / CSV_NAME)
    if not chart_available():
        return "note: matplotlib is not installed; wrote the CSV only (uv sync --group bench)"
    write_chart(results, out_dir / PNG_NAME)
    return ""


def chart_available() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def write_chart(results: Sequence[ScenarioResult], path: Path) -> None:
    """P50 turnaround against the oracle and builds per landed change, per scenario and strategy.
    Needs matplotlib (the `bench` dependency group); check `chart_available` first."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strategies = [m.strategy for m in results[0].rows if m.strategy != "oracle"]
    labels = [r.scenario.name for r in results]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(10, 1.6 * len(results)), 9))
    width = 0.8 / max(1, len(strategies))
    for k, name in enumerate(strategies):
        xs = [i + (k - (len(strategies) - 1) / 2) * width for i in range(len(results))]
        p50: list[float] = []
        builds: list[float] = []
        for result in results:
            row, oracle = result.row(name), result.row("oracle")
            p50.append(ratio(row.p50_min, oracle.p50_min) if row and oracle else math.nan)
            builds.append(row.builds_per_landed if row else math.nan)
        top.bar(xs, p50, width, label=name)
        bottom.bar(xs, builds, width, label=name)
    top.axhline(1.5, color="black", linestyle="--", linewidth=0.8)
    top.set_yscale("log")
    top.set_ylabel("P50 turnaround / oracle (log)")
    top.set_title("Speculation simulator: turnaround against the oracle (dashed: 1.5x goal)")
    bottom.axhline(2.5, color="black", linestyle="--", linewidth=0.8)
    bottom.set_yscale("log")
    bottom.set_ylabel("builds per landed change (log)")
    for axis in (top, bottom):
        axis.set_xticks(range(len(results)))
        axis.set_xticklabels(labels, rotation=20, ha="right", fontsize=8)
    top.legend(fontsize=8, ncols=len(strategies))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


HEADER = (
    "scenario",
    "strategy",
    "landed/h",
    "landed ÷ arrived",
    "censored",
    "P50 min (x oracle)",
    "P95 min (x oracle)",
    "P99 min (x oracle)",
    "builds/landed",
    "build-h/landed",
    "wait / build / hold min",
    "deps",
    "verified",
)
ALIGN = (Align.LEFT, Align.LEFT, *[Align.RIGHT] * 10, Align.CENTER)


def markdown_table(results: Sequence[ScenarioResult]) -> str:
    """One row per scenario and strategy; `≥` marks percentiles that are lower bounds because
    some measured changes had not landed by the end of the run (`censored` counts them). `deps`
    is the mean number of unresolved changes ahead a change depended on when it joined (`-` for
    strategies without dependency analysis)."""
    rows = []
    for result in results:
        oracle = result.row("oracle")
        for m in result.rows:
            mark = "≥" if m.censored else ""
            cells = [
                result.scenario.name + (" **(headline)**" if result.scenario.headline else ""),
                m.strategy,
                f"{m.throughput_per_hour:.1f}",
                f"{m.landed_vs_arrived:.2f}",
                str(m.censored),
                *(
                    f"{mark}{value:.1f} ({_times(ratio(value, base) if oracle else math.nan)})"
                    for value, base in _percentiles(m, oracle)
                ),
                f"{m.builds_per_landed:.2f}",
                f"{m.build_hours_per_landed:.2f}",
                f"{m.wait_min:.1f} / {m.build_min:.1f} / {m.hold_min:.1f}",
                "-" if m.dependencies_mean is None else f"{m.dependencies_mean:.1f}",
                "yes" if m.verified else f"**no ({len(m.violations)})**",
            ]
            rows.append(cells)
    return summary.markdown_table(HEADER, rows, ALIGN, pad=False)


def _percentiles(m: StrategyMetrics, oracle: StrategyMetrics | None) -> list[tuple[float, float]]:
    if oracle is None:
        return [(m.p50_min, math.nan), (m.p95_min, math.nan), (m.p99_min, math.nan)]
    return [(m.p50_min, oracle.p50_min), (m.p95_min, oracle.p95_min), (m.p99_min, oracle.p99_min)]


def _times(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def result_line(results: Sequence[ScenarioResult]) -> str:
    """`RESULT …` for the headline scenario (the first one when none is marked). `censored=1`
    when any of ours' figures there is a lower bound (a measured change was still waiting)."""
    headline = next((r for r in results if r.scenario.headline), results[0])
    oracle = headline.row("oracle")

    def vs_oracle(name: str, field: str) -> str:
        row = headline.row(name)
        if row is None or oracle is None:
            return "nan"
        return f"{ratio(getattr(row, field), getattr(oracle, field)):.2f}"

    ours = headline.row("ours")
    figures = {
        "ours_p50_vs_oracle": vs_oracle("ours", "p50_min"),
        "ours_p95_vs_oracle": vs_oracle("ours", "p95_min"),
        "ours_builds_per_landed": f"{ours.builds_per_landed:.2f}" if ours else "nan",
        "ours_landed_vs_arrived": f"{ours.landed_vs_arrived:.2f}" if ours else "nan",
        "optimistic_p50_vs_oracle": vs_oracle("optimistic", "p50_min"),
        "serial_p50_vs_oracle": vs_oracle("serial", "p50_min"),
        "bisect_p50_vs_oracle": vs_oracle("bisect", "p50_min"),
        "censored": str(int(ours is not None and ours.censored > 0)),
    }
    return "RESULT " + " ".join(f"{k}={v}" for k, v in figures.items())
