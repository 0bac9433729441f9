"""Our queue when CI is far short of workers: what it lands against the standard speculator.

    uv run --frozen --no-sync python bench/sim_overload.py [--seeds 1,2,3,4] [--quick]

A team of 60 changes an hour on 8 workers with 15-minute builds needs 15 at once: CI can build
about half of what arrives, and every strategy falls behind. That is where building in the wrong
order costs most: a change built before the dependency it waits on passes and then holds its
slot's worth of work until a build of that dependency, not yet started, ends (doc/speculation.md,
"Premature paths"). Five variants of the workload (lognormal builds with 2% flakes and the folder
conflict model; fixed builds; no flakes; pairwise conflicts at q = 0.05; a 3-hour window), each
run with `ours`, `ours-standard` (rank order, no preemption: it never builds out of order under a
backlog) and the oracle. Prints one row per variant and seed, and ends with `RESULT
ours_vs_standard_landed=… ours_builds_per_landed=… standard_builds_per_landed=…
ours_vs_oracle_landed=…` (means over the rows; `landed` is landed ÷ arrived in the window).
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor

from benchargs import parse_with_quick
from sq.sim.runner import Scenario, run_scenario
from sq.sim.workload import (
    BuildDistribution,
    ConflictKind,
    ConflictSpec,
    FailureModel,
    WorkloadSpec,
)

BASE = WorkloadSpec(
    rate_per_hour=60,
    build_minutes=15,
    failure_probability=0.1,
    conflict=ConflictSpec(kind=ConflictKind.FOLDER, folders=20),
    build_distribution=BuildDistribution.LOGNORMAL,
    flaky_rate=0.05,
    failure_model=FailureModel.AUTHOR_FOLDER,
    warmup_hours=1.0,
    window_hours=6.0,
    tail_hours=0.5,
    drain_hours=1.0,
)
VARIANTS: dict[str, dict[str, object]] = {
    "lognormal, flakes, folders": {},
    "fixed builds": {"build_distribution": BuildDistribution.FIXED},
    "no flakes": {"flaky_rate": 0.0},
    "pairwise q=0.05": {"conflict": ConflictSpec(probability=0.05)},
    "3 h window": {"window_hours": 3.0},
}
STRATEGIES = ("ours", "ours-standard", "oracle")


def run(task: tuple[str, int]) -> tuple[str, int, dict[str, tuple[float, float]]]:
    name, seed = task
    spec = WorkloadSpec(**{**_fields(BASE), **VARIANTS[name]})  # type: ignore[arg-type]
    result = run_scenario(Scenario(name=name, workload=spec, capacity=8), seed, STRATEGIES)
    return (
        name,
        seed,
        {r.strategy: (r.landed_vs_arrived, r.builds_per_landed) for r in result.rows},
    )


def _fields(spec: WorkloadSpec) -> dict[str, object]:
    return {f: getattr(spec, f) for f in spec.__dataclass_fields__}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,2,3,4")
    parser.add_argument("--jobs", type=int, default=2)
    args = parse_with_quick(parser, {"seeds": "1"})
    seeds = [int(s) for s in args.seeds.split(",")]
    tasks = [(name, seed) for name in VARIANTS for seed in seeds]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        rows = list(pool.map(run, tasks))
    print("| variant | seed | ours landed (builds/landed) | standard | oracle |")
    print("|---|--:|--:|--:|--:|")
    for name, seed, figures in rows:
        cells = [f"{figures[s][0]:.2f} ({figures[s][1]:.2f})" for s in STRATEGIES]
        print(f"| {name} | {seed} | " + " | ".join(cells) + " |")
    ratio = statistics.mean(f["ours"][0] / f["ours-standard"][0] for _, _, f in rows)
    to_oracle = statistics.mean(f["ours"][0] / f["oracle"][0] for _, _, f in rows)
    ours_builds = statistics.mean(f["ours"][1] for _, _, f in rows)
    standard_builds = statistics.mean(f["ours-standard"][1] for _, _, f in rows)
    print(f"{len(rows)} runs in {time.perf_counter() - started:.0f} s wall")
    print(
        f"RESULT ours_vs_standard_landed={ratio:.2f} ours_builds_per_landed={ours_builds:.2f} "
        f"standard_builds_per_landed={standard_builds:.2f} ours_vs_oracle_landed={to_oracle:.2f}"
    )


if __name__ == "__main__":
    main()
