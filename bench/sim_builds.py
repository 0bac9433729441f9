"""Where our engine's builds go: every build of `ours` on one paper-setting run, by fate.

    uv run --frozen --no-sync python bench/sim_builds.py [--p 0.1] [--seed 1] [--strategy ours]
        [--setting paper|small] [--quick]

Runs one strategy of our engine on the grid's paper scenario and sorts every build that started
inside the measured window: it landed its head; it failed (the head bad, or a change it was
stacked on bad); it passed but nothing landed on it; it was preempted (the speculator proposed
its cancel) or cancelled otherwise (finalize: a broken assumption, or the head landed on another
path). Cancelled builds are split three ways: their base or head held a bad change (doomed
anyway); "right future": every change included was good and every good dependency of the head
not yet landed when the build started was included, so the build would have landed its head
(correct work thrown away); "ruled-out future": every change included was good but a good
dependency was assumed to fail (a hedge whose dependency proved good: it could pass, never land).
Prints counts, build-hours and the CPU the run took, and ends with `RESULT builds=…
landed_share=… preempted_share=… cancelled_share=…` (shares of the window's builds). `--quick`
runs the small team instead of the paper setting.
"""

from __future__ import annotations

import argparse
import collections
import time
from collections.abc import Callable

from benchargs import parse_with_quick
from sq.sim.ledger import BuildRecord, Ledger
from sq.sim.metrics import measure
from sq.sim.runner import make_strategy, paper_scenario, small_team_scenario
from sq.sim.strategies import ours
from sq.sim.workload import Workload, generate
from sq.submitqueue.entity.path import PathID
from sq.submitqueue.entity.proposal import PathAction, Speculation
from sq.submitqueue.entity.snapshot import SpeculationSnapshot
from sq.submitqueue.extension.speculator.value import ValueSpeculator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--p", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strategy", default="ours")
    parser.add_argument("--setting", choices=("paper", "small"), default="paper")
    args = parse_with_quick(parser, {"setting": "small"})

    preempted: set[tuple[PathID, int]] = set()
    speculate = ValueSpeculator.speculate

    def spy(self: ValueSpeculator, snapshot: SpeculationSnapshot) -> list[Speculation]:
        proposals = speculate(self, snapshot)
        for proposal in proposals:
            if proposal.action is PathAction.CANCEL:
                path_set = snapshot.path_set(proposal.path.head)
                entry = path_set.entry(proposal.path.id) if path_set else None
                if entry is not None:
                    preempted.add((entry.id, entry.attempt))
        return proposals

    queues: list[ours._EngineQueue] = []
    init = ours._EngineQueue.__init__

    def keep(self: ours._EngineQueue, *a: object, **k: object) -> None:
        init(self, *a, **k)  # type: ignore[arg-type]
        queues.append(self)

    ValueSpeculator.speculate = spy  # type: ignore[method-assign]
    ours._EngineQueue.__init__ = keep  # type: ignore[method-assign]

    scenario = paper_scenario(args.p) if args.setting == "paper" else small_team_scenario(args.p)
    workload = generate(scenario.workload, args.seed)
    strategy = make_strategy(args.strategy, scenario.capacity)
    ledger = Ledger()
    started = time.process_time()
    strategy.run(workload, ledger)
    cpu = time.process_time() - started
    m = measure(strategy.name, workload, ledger)
    print(
        f"{scenario.name} seed {args.seed} {strategy.name}: cpu {cpu:.1f} s, "
        f"landed/h {m.throughput_per_hour:.1f}, landed/arrived {m.landed_vs_arrived:.2f}, "
        f"P50 {m.p50_min:.1f} min, builds/landed {m.builds_per_landed:.2f}, "
        f"build-h/landed {m.build_hours_per_landed:.2f}, wait/build/hold "
        f"{m.wait_min:.1f}/{m.build_min:.1f}/{m.hold_min:.1f} min"
    )
    attempt_of = queues[0].attempt_of if queues else {}
    right = _right_futures(queues[0], ledger) if queues else lambda build: True
    counts: collections.Counter[str] = collections.Counter()
    hours: collections.Counter[str] = collections.Counter()
    for build in ledger.builds:
        if not workload.start_ms <= build.start_ms < workload.end_ms:
            continue
        attempt = attempt_of.get(build.id)
        was_preempted = attempt is not None and (attempt.path_id, attempt.attempt) in preempted
        fate = _fate(build, workload, ledger, preempted=was_preempted, right=right)
        counts[fate] += 1
        end = build.end_ms if build.end_ms is not None else workload.horizon_ms
        hours[fate] += (end - build.start_ms) / 3_600_000
    total = sum(counts.values())
    print("| fate | builds | share | build-h |\n|---|--:|--:|--:|")
    for fate in sorted(counts):
        print(f"| {fate} | {counts[fate]} | {counts[fate] / total:.1%} | {hours[fate]:.1f} |")

    def share(prefix: str) -> float:
        return sum(n for fate, n in counts.items() if fate.startswith(prefix)) / max(total, 1)

    print(
        f"RESULT builds={total} landed_share={share('landed'):.3f} "
        f"preempted_share={share('preempted'):.3f} cancelled_share={share('cancelled'):.3f}"
    )


def _right_futures(queue: ours._EngineQueue, ledger: Ledger) -> Callable[[BuildRecord], bool]:
    """Whether a build included every good dependency of its head that had not landed by the
    build's start (its future can come true; a build that assumed one of them fails cannot)."""
    batch_of = {c: bid for bid, members in queue.members_of.items() for c in members}
    landed_seq = {c: landing.seq for landing in ledger.landings for c in landing.changes}
    good = {c.index: c.good for c in queue.workload.changes}

    def right(build: BuildRecord) -> bool:
        head = queue.batches[batch_of[build.included[-1]]]
        included = set(build.included)
        for dep in head.dependencies:
            for c in queue.members_of[dep]:
                in_master = landed_seq.get(c, len(ledger.landings)) < build.master_landings
                if good[c] and not in_master and c not in included:
                    return False
        return True

    return right


def _fate(
    build: BuildRecord,
    workload: Workload,
    ledger: Ledger,
    *,
    preempted: bool,
    right: Callable[[BuildRecord], bool],
) -> str:
    good = workload.changes
    head_bad = not good[build.included[-1]].good
    base_bad = any(not good[c].good for c in build.included[:-1])
    if build.id in {landing.build_id for landing in ledger.landings}:
        return "landed its head"
    if build.cancelled:
        why = "preempted" if preempted else "cancelled"
        if base_bad or head_bad:
            return f"{why}: " + ("base bad" if base_bad else "head bad")
        return f"{why}: " + ("right future" if right(build) else "ruled-out future")
    if build.passed is False:
        return "failed: " + ("base bad" if base_bad else "head bad")
    if build.passed:
        return "passed, unused"
    return "running at the end"


if __name__ == "__main__":
    main()
