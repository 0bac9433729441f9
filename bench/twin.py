"""Twin: the simulator's workload replayed through the real SubmitQueue stack, beside the
simulator's own figures for that workload (same generator, same seed, same process).

    uv run --frozen --no-sync python bench/twin.py [--quick] [--setting small|paper|both]
        [--seed 1] [--small-factor 30] [--paper-factor 4] [--mode process|inprocess]
        [--postgres-url URL] [--timeout-s S]

`--quick` runs short windows, and the small team only unless `--setting` says otherwise.

The real side is gateway, orchestrator and runway as three `sq serve` processes (`--mode
process`, the default; `inprocess` wires the same services in this process), on fresh PostgreSQL
databases created and dropped here, or SQLite files without a server. The queue uses the
bench-only `twin` provider and runner (`sq.service.twin`), whose section names the workload so
every process regenerates it: each change touches one file per conflicting pair of the workload
(a file-granularity `pathoverlap` analyzer then sees the simulator's conflicts), and a build
lasts its head's build time / factor and passes iff every change in its tree is good (the
simulator's rule). Arrivals are posted to the gateway at the
workload's arrival times / factor. Queue settings mirror the simulator's `ours`: the default
speculator (`value`), budget = C, the constant scorer at 1 - p.

Both sides are scored by the simulator's `measure` over the same measured window (the real run is
read back into a `Ledger` in workload time = real time x factor). Per setting, a RESULT line:
`twin_p50_vs_sim` = real P50 / simulated P50 (arrival to landing, changes arriving in the
window), `twin_builds_vs_sim` = real builds per landed change / simulated, and
`twin_landed_vs_arrived` = the real run's landed / good arrivals, both over the whole run (a
short window holds few 30-minute builds' landings); `speedup` = workload time covered /
wall-clock time of the real run (the factor, when the stack keeps up), and `unsettled` = the
changes still unsettled when the wait timed out (`--timeout-s`): those are listed with their last
status and counted as censored, and the line then ends `lower_bound=...` naming the figures that
are only bounds from below.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import math
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchargs import parse_with_quick
from benchdb import fresh_postgres_url
from pipeline_stack import progress
from sq.service.settings_twin import TwinConfig
from sq.service.twin import scenario_of, workload_of
from sq.sim.ledger import Ledger
from sq.sim.metrics import StrategyMetrics, measure, percentile
from sq.sim.runner import Scenario, make_strategy
from sq.sim.workload import MINUTE_MS, Workload
from twin_stack import MODES, TwinRun, TwinSetup, run_twin

PG_ENV = "SQ_TEST_POSTGRES_URL"
P = 0.1
SIM_STRATEGY = "ours"
LOWER_BOUNDS = ("twin_p50_vs_sim", "twin_landed_vs_arrived")
"""What a run with unsettled changes still bounds from below (they count as censored)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Setting:
    name: str
    scenario: Scenario
    twin: TwinConfig
    """What the twin queue's section says: the same scenario, windows, seed and factor."""

    @property
    def factor(self) -> float:
        return self.twin.factor


@dataclass(frozen=True, slots=True, kw_only=True)
class Whole:
    """Over the whole run, not the measured window: with 30-minute builds a short window holds
    few landings, so the window's `builds_per_landed` and `landed_vs_arrived` say little."""

    builds: int
    landed: int
    good: int

    @property
    def builds_per_landed(self) -> float:
        return self.builds / self.landed if self.landed else math.nan

    @property
    def landed_vs_arrived(self) -> float:
        return self.landed / self.good if self.good else math.nan


def whole(workload: Workload, ledger: Ledger) -> Whole:
    return Whole(
        builds=len(ledger.builds),
        landed=len(ledger.landed_at),
        good=sum(1 for c in workload.changes if c.good),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Comparison:
    setting: Setting
    workload: Workload
    sim: StrategyMetrics
    twin: StrategyMetrics
    run: TwinRun
    sim_first_build_min: float
    twin_first_build_min: float
    sim_whole: Whole
    twin_whole: Whole
    mode: str

    @property
    def p50_ratio(self) -> float:
        return self.twin.p50_min / self.sim.p50_min

    @property
    def builds_ratio(self) -> float:
        return self.twin_whole.builds_per_landed / self.sim_whole.builds_per_landed

    @property
    def speedup(self) -> float:
        return self.run.virtual_s / self.run.wall_s if self.run.wall_s else math.nan


def settings(args: argparse.Namespace) -> list[Setting]:
    """The small team (20/h, C = 4, 10-minute builds) and the paper setting (500/h, C = 500,
    30-minute builds) at p = 0.1, with windows cut to what this machine runs in minutes."""
    chosen = []
    for name, factor, quick, full in (
        ("small", args.small_factor, (0.5, 2.0, 0.5), (1.0, 6.0, 1.0)),
        ("paper", args.paper_factor, (0.1, 0.3, 0.1), (0.25, 0.75, 0.25)),
    ):
        if args.setting not in (name, "both"):
            continue
        warmup, window, tail = quick if args.quick else full
        twin = TwinConfig(
            scenario=name,
            failure_probability=P,
            seed=args.seed,
            warmup_hours=warmup if args.warmup_hours is None else args.warmup_hours,
            window_hours=window if args.window_hours is None else args.window_hours,
            tail_hours=tail if args.tail_hours is None else args.tail_hours,
            factor=factor,
        )
        chosen.append(Setting(name=name, scenario=scenario_of(twin), twin=twin))
    return chosen


def simulate(workload: Workload, capacity: int) -> Ledger:
    ledger = Ledger()
    make_strategy(SIM_STRATEGY, capacity).run(workload, ledger)
    return ledger


@contextlib.contextmanager
def databases(postgres_url: str | None) -> Iterator[dict[str, str]]:
    if not postgres_url:
        yield {}
        return
    with contextlib.ExitStack() as stack:
        names = ("queue", "gateway", "orchestrator", "runway")
        yield {n: stack.enter_context(fresh_postgres_url(postgres_url, "sqtwin")) for n in names}


def compare(setting: Setting, args: argparse.Namespace) -> Comparison:
    scenario = setting.scenario
    workload = workload_of(setting.twin)
    progress(f"{setting.name}: simulating {len(workload.changes)} changes ({scenario.name})")
    sim_ledger = simulate(workload, scenario.capacity)
    wall_guess = scenario.workload.arrivals_hours * 3600 / setting.factor
    progress(
        f"{setting.name}: the real stack ({args.mode}) at factor {setting.factor:g} "
        f"(arrivals over ~{wall_guess:.0f} s)"
    )
    setup = TwinSetup(
        workload=workload,
        twin=setting.twin,
        capacity=scenario.capacity,
        timeout_s=wall_guess * 4 + 600 if args.timeout_s is None else args.timeout_s,
        mode=args.mode,
    )
    with tempfile.TemporaryDirectory(prefix="sqtwin-") as tmp, databases(args.postgres_url) as urls:
        run = asyncio.run(run_twin(Path(tmp), urls, setup))
    return Comparison(
        setting=setting,
        workload=workload,
        sim=measure(SIM_STRATEGY, workload, sim_ledger),
        twin=measure("twin", workload, run.ledger),
        run=run,
        sim_first_build_min=first_build_min(workload, sim_ledger),
        twin_first_build_min=first_build_min(workload, run.ledger),
        sim_whole=whole(workload, sim_ledger),
        twin_whole=whole(workload, run.ledger),
        mode=args.mode,
    )


def report(c: Comparison) -> str:
    header = (
        "side",
        "landed",
        "rejected",
        "censored",
        "landed/arrived",
        "P50 min",
        "P95 min",
        "builds/landed",
        "wait min",
        "build min",
        "hold min",
    )
    rows = [header]
    for side, m in (("simulator", c.sim), ("real stack", c.twin)):
        rows.append(
            (
                side,
                str(m.landed),
                str(m.rejected),
                str(m.censored),
                f"{m.landed_vs_arrived:.2f}",
                f"{m.p50_min:.1f}",
                f"{m.p95_min:.1f}",
                f"{m.builds_per_landed:.2f}",
                f"{m.wait_min:.1f}",
                f"{m.build_min:.1f}",
                f"{m.hold_min:.1f}",
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [
        "| " + " | ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) + " |" for r in rows
    ]
    lines.insert(1, "|" + "|".join("-" * (w + 1) + ":" for w in widths) + "|")
    s = c.setting.scenario
    good = [x.index for x in c.workload.changes if x.good]
    bad = [x.index for x in c.workload.changes if not x.good]
    landed = sum(1 for i in good if c.run.final.get(i) == "landed")
    rejected = sum(1 for i in bad if c.run.final.get(i) == "error")
    finals = sorted(set(c.run.final.values()))
    counts = ", ".join(f"{v} {sum(1 for x in c.run.final.values() if x == v)}" for v in finals)
    return "\n".join(
        [
            f"### {c.setting.name}: {s.name}, C={s.capacity}, {len(c.workload.changes)} changes, "
            f"factor {c.setting.factor:g}",
            "",
            *lines,
            "",
            f"real run: wall {c.run.wall_s:.0f} s covering {c.run.virtual_s / 60:.0f} workload "
            f"minutes; final statuses: {counts}; late arrivals {c.run.late_submits}; "
            f"ledger checks on the real run: {len(c.twin.violations)} violation(s)",
            *(f"  {v}" for v in c.twin.violations[:5]),
            *(
                f"whole run, {side}: {w.builds} builds for {w.landed} landed "
                f"({w.builds_per_landed:.2f} per landed), landed/good arrived "
                f"{w.landed_vs_arrived:.2f}"
                for side, w in (("simulator", c.sim_whole), ("real stack", c.twin_whole))
            ),
            f"real run, every arrival: good landed {landed}/{len(good)}, "
            f"bad rejected {rejected}/{len(bad)}",
            f"arrival to first build (median, workload min): simulator "
            f"{c.sim_first_build_min:.1f}, real {c.twin_first_build_min:.1f}",
            hops_line(c),
            *unsettled_lines(c),
        ]
    )


def unsettled_lines(c: Comparison) -> list[str]:
    """The changes the run gave up on, and where each stood (why the figures are bounds)."""
    left = c.run.unsettled
    if not left:
        return []
    return [
        f"unsettled at the timeout, {len(left)} (counted as censored: P50 and landed/arrived are "
        "lower bounds):",
        *(f"  c{i}: {why}" for i, why in sorted(left.items())),
    ]


def hops_line(c: Comparison) -> str:
    """Where the real stack's hold goes (real seconds; `twin_stack.Hops`)."""
    h = c.run.hops

    def both(values: list[float]) -> str:
        if not values:
            return "-"
        return f"median {percentile(values, 0.5):.2f} s, mean {sum(values) / len(values):.2f} s"

    chained = [float(x) for x in h.chain]
    return (
        f"hold, real seconds over {len(h.waiting)} landed: waiting for a conflicting change "
        f"to land {both(h.waiting)}; ready to `speculated` {both(h.to_speculated)}; "
        f"`speculated` to `landing` {both(h.to_landing)}; `landing` to "
        f"`landed` {both(h.landing_to_landed)}; conflicting landings waited for "
        f"{both(chained).replace(' s', '')}"
    )


def first_build_min(workload: Workload, ledger: Ledger) -> float:
    """Median over the measured changes of arrival to the first build verifying them, in workload
    minutes: the stage hops before a build, plus any wait for the budget."""
    first: dict[int, int] = {}
    for build in ledger.builds:
        first.setdefault(build.included[-1], build.start_ms)
    delays = [
        (first[c.index] - c.arrival_ms) / MINUTE_MS
        for c in workload.changes
        if workload.measured(c) and c.index in first
    ]
    return percentile(delays, 0.5)


def result_line(c: Comparison) -> str:
    return (
        f"RESULT twin_p50_vs_sim={c.p50_ratio:.2f} twin_builds_vs_sim={c.builds_ratio:.2f}"
        f" twin_landed_vs_arrived={c.twin_whole.landed_vs_arrived:.2f} speedup={c.speedup:.0f}"
        f" setting={c.setting.name} factor={c.setting.factor:g} mode={c.mode}"
        f" unsettled={len(c.run.unsettled)}"
        + (f" lower_bound={','.join(LOWER_BOUNDS)}" if c.run.unsettled else "")
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--setting", choices=("small", "paper", "both"), default="both")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="process",
        help="process: `sq serve` processes per service; inprocess: the services in this process",
    )
    parser.add_argument("--small-factor", type=float, default=30.0)
    parser.add_argument("--paper-factor", type=float, default=4.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(PG_ENV),
        help=f"server URL; fresh databases are created there (default ${PG_ENV}; unset: SQLite)",
    )
    parser.add_argument("--window-hours", type=float, help="override the measured window's end")
    parser.add_argument("--warmup-hours", type=float, help="override the unmeasured warm-up")
    parser.add_argument("--tail-hours", type=float, help="override the arrivals after the window")
    parser.add_argument(
        "--timeout-s",
        type=float,
        help="give up waiting for the rest to settle after this many seconds (default: 4 x the "
        "arrivals' span + 600); what is left is reported and counted as censored",
    )
    args = parse_with_quick(parser, {"setting": "small"}, argv, what="short windows: a few minutes")
    if min(args.small_factor, args.paper_factor) <= 0:
        parser.error("factors must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (or SIGINT in the background) unwinds like Ctrl-C: the `sq serve` processes are
    # stopped and the databases dropped on the way out.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    chosen = settings(args)
    backend = "postgresql" if args.postgres_url else "sqlite"
    comparisons = [compare(s, args) for s in chosen]
    print(
        f"Twin: seed {args.seed}, p={P}, {backend}, speculator `value` (the default), "
        f"mode {args.mode}"
    )
    for c in comparisons:
        print()
        print(report(c))
    print()
    for c in comparisons:
        print(result_line(c))
    return 0


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    sys.exit(main())
