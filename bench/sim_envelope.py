"""Where our engine keeps up: the paper setting's load at several conflict densities.

    uv run --frozen --no-sync python bench/sim_envelope.py [--rate 500] [--capacity 500]
        [--build-minutes 30] [--density 1.25,2.5,3.75,5,7.5] [--p 0.1] [--seed 1] [--jobs 2]
        [--quick]

The conflict density `d = q·λ·T` is how many changes that conflict with a new one arrive within
one build time (q the pairwise conflict chance, λ arrivals per hour, T the build time in hours);
the grid's paper setting is d = 0.03 · 500 · 0.5 = 7.5. Each density is the paper scenario's shape
(2 h warm-up, 1.5 h measured, 1 h tail, drain) with q = d / (λ·T), run with `ours` and the oracle on
the same workload, and the optimistic peer (Zuul's dependent lines) beside them. Per density it
prints the dependencies a change had when it joined (the simulator's counterpart of the
service's `sq_head_dependencies` ÷ `sq_heads_in_flight`), landed ÷ arrived for both, ours'
landings ÷ the oracle's (the same workload, so arrival noise cancels), P50 and P95 x the oracle,
builds and build-hours per landed change, and the optimistic peer's P50 x the oracle.

A density is *kept up* when ours lands at least 95% of what the oracle lands, with P50 ≤ 1.5x
the oracle and ≤ 2.5 builds per landed change, none of its percentiles censored (the speculation
issue's headline bars, with the keep-up bar taken side by side). Ends with `RESULT
envelope_density=… envelope_dependencies=… points=… censored=<0|1>`: the densest point of the
unbroken run kept up from the sparsest one, and the dependencies measured there (0 and nan when
the sparsest is not kept up); `censored=1` when any of ours' percentiles is a lower bound. The
windows are counted in build times (2 h warm-up at 30 minutes, 4 h at 60). `--quick` runs
100 changes an hour on 100 workers at two densities.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

from benchargs import parse_with_quick
from sq.sim.runner import Scenario, ScenarioResult, paper_scenario, run_grid

KEEP_UP = 0.95
P50_BAR = 1.5
BUILDS_BAR = 2.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="arrivals per hour")
    parser.add_argument("--capacity", type=int, default=500, help="CI workers")
    parser.add_argument("--build-minutes", type=float, default=30.0)
    parser.add_argument("--density", default="1.25,2.5,3.75,5,7.5", help="values of q·λ·T")
    parser.add_argument("--p", type=float, default=0.1, help="failure probability")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=2)
    args = parse_with_quick(parser, {"rate": 100.0, "capacity": 100, "density": "1.25,5"})
    densities = _checked(parser, args)
    per_build = args.rate * args.build_minutes / 60
    scenarios = [_scenario(args, d / per_build) for d in densities]
    started = time.perf_counter()
    results = run_grid(scenarios, args.seed, ("ours", "optimistic", "oracle"), jobs=args.jobs)
    print(
        f"# λ={args.rate:g}/h C={args.capacity} T={args.build_minutes:g} min p={args.p:g} "
        f"seed={args.seed}; {time.perf_counter() - started:.0f} s wall"
    )
    print(
        "| density q·λ·T | q | deps at analysis | landed ÷ arrived (oracle) | landed ÷ oracle's "
        "| P50 x oracle | P95 x oracle | builds/landed | build-h/landed | kept up "
        "| optimistic P50 x oracle |"
    )
    print("|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|--:|")
    points = [point_of(result) for result in results]
    envelope, envelope_deps = kept_up_to(densities, points)
    for d, result, point in zip(densities, results, points, strict=True):
        mark = "≥" if point.censored else ""
        print(
            f"| {d:g} | {result.scenario.workload.conflict.probability:.4f} "
            f"| {point.dependencies:.1f} | {point.landed_vs_arrived:.2f} "
            f"({point.oracle_landed_vs_arrived:.2f}) | {point.landed_vs_oracle:.2f} "
            f"| {mark}{point.p50:.2f}x | {mark}{point.p95:.2f}x | {point.builds:.2f} "
            f"| {point.build_hours:.2f} | {'yes' if point.kept_up else 'no'} "
            f"| {'≥' if point.optimistic_censored else ''}{point.optimistic_p50:.2f}x |"
        )
    print(
        f"RESULT envelope_density={envelope:g} envelope_dependencies={envelope_deps:.1f} "
        f"points={len(densities)} censored={int(any(p.censored for p in points))}"
    )


def _checked(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[float]:
    """The densities, ascending, once every option is a finite number in its range."""
    try:
        densities = sorted({float(d) for d in args.density.split(",")})
    except ValueError:
        parser.error(f"--density: expected numbers separated by commas, got {args.density!r}")
    numbers = [*densities, args.rate, args.build_minutes, args.p]
    if not all(math.isfinite(x) for x in numbers):
        parser.error("--density, --rate, --build-minutes and --p must be finite numbers")
    if densities[0] <= 0 or args.rate <= 0 or args.build_minutes <= 0:
        parser.error("densities, --rate and --build-minutes must be positive")
    if args.capacity < 1 or args.jobs < 1:
        parser.error("--capacity and --jobs must be at least 1")
    if not 0 <= args.p <= 1:
        parser.error(f"--p is a failure probability, within [0, 1]; got {args.p:g}")
    per_build = args.rate * args.build_minutes / 60
    if densities[-1] > per_build:
        parser.error(f"a density above λ·T = {per_build:g} needs a conflict chance above 1")
    return densities


def kept_up_to(densities: list[float], points: list[Point]) -> tuple[float, float]:
    """The densest point of the unbroken run kept up from the sparsest one, and its dependencies
    per change; (0, nan) when the sparsest is not kept up. A denser point that passes after one
    that failed is noise, not envelope."""
    envelope, dependencies = 0.0, math.nan
    for d, point in zip(densities, points, strict=True):
        if not point.kept_up:
            break
        envelope, dependencies = d, point.dependencies
    return envelope, dependencies


def _scenario(args: argparse.Namespace, q: float) -> Scenario:
    """The paper scenario with its windows in build times: warm-up, window, tail and drain scale
    with --build-minutes, so a queue is measured after four build times at any T."""
    base = paper_scenario(args.p, q)
    scale = args.build_minutes / base.workload.build_minutes
    spec = dataclasses.replace(
        base.workload,
        rate_per_hour=args.rate,
        build_minutes=args.build_minutes,
        warmup_hours=base.workload.warmup_hours * scale,
        window_hours=base.workload.window_hours * scale,
        tail_hours=base.workload.tail_hours * scale,
        drain_hours=base.workload.drain_hours * scale,
    )
    name = f"λ={args.rate:g} C={args.capacity} p={args.p:g} q={q:.4f}"
    return Scenario(name=name, workload=spec, capacity=args.capacity)


@dataclasses.dataclass(frozen=True, slots=True)
class Point:
    dependencies: float
    landed_vs_arrived: float
    oracle_landed_vs_arrived: float
    landed_vs_oracle: float
    p50: float
    p95: float
    builds: float
    build_hours: float
    censored: bool
    optimistic_p50: float
    optimistic_censored: bool

    @property
    def kept_up(self) -> bool:
        return (
            self.landed_vs_oracle >= KEEP_UP
            and self.p50 <= P50_BAR
            and self.builds <= BUILDS_BAR
            and not self.censored
        )


def point_of(result: ScenarioResult) -> Point:
    ours, oracle, peer = result.row("ours"), result.row("oracle"), result.row("optimistic")
    if ours is None or oracle is None or peer is None:
        raise SystemExit(f"{result.scenario.name}: a strategy did not run")
    if not (ours.verified and oracle.verified and peer.verified):
        raise SystemExit(f"{result.scenario.name}: a landing was not justified by its build")
    return Point(
        dependencies=math.nan if ours.dependencies_mean is None else ours.dependencies_mean,
        landed_vs_arrived=ours.landed_vs_arrived,
        oracle_landed_vs_arrived=oracle.landed_vs_arrived,
        landed_vs_oracle=ours.throughput_per_hour / max(oracle.throughput_per_hour, 1e-9),
        p50=ours.p50_min / oracle.p50_min,
        p95=ours.p95_min / oracle.p95_min,
        builds=ours.builds_per_landed,
        build_hours=ours.build_hours_per_landed,
        censored=ours.censored > 0,
        optimistic_p50=peer.p50_min / oracle.p50_min,
        optimistic_censored=peer.censored > 0,
    )


if __name__ == "__main__":
    main()
