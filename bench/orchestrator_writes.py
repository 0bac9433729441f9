"""What the orchestrator's storage does per landed request when many are submitted at once.

Runs the SubmitQueue pipeline in one process on the in-memory queue with a fake clock (the
scenario tests' `Stack`: fake change provider, `all` analyzer, budget 4, held builds released in
rounds) and counts, over the whole run, the orchestrator database's transactions and statements,
the speculate runs, and the speculate messages stored and delivered (a signal held to
settle is delivered again, so it counts once per delivery). The counts do not depend on the
machine's load, so two trees can be compared one after the other: run this file with each tree's
interpreter (the `Stack` comes from the tests beside the `sq` package that is imported).

    .venv/bin/python bench/orchestrator_writes.py --requests 60

The last line is `RESULT requests=… transactions_per_landed=… statements_per_landed=…
speculate_runs_per_landed=… speculate_messages_per_landed=… speculate_deliveries_per_landed=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import sq
from sq.submitqueue.core import messages as m
from sq.submitqueue.orchestrator.controller.speculate import SpeculateController

sys.path.insert(0, str(Path(sq.__file__).resolve().parents[2] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchargs import parse_with_quick
from support.sq_stack import Stack


async def measure(requests: int, tmp: Path) -> dict[str, float]:
    s = Stack(tmp)
    counts = {"transactions": 0, "statements": 0, "runs": 0, "deliveries": 0}

    def began(*_: Any) -> None:
        counts["transactions"] += 1

    def executed(*_: Any) -> None:
        counts["statements"] += 1

    original, process = SpeculateController.run, SpeculateController.process

    async def run(self: SpeculateController, queue: str, **kw: Any) -> None:
        counts["runs"] += 1
        await original(self, queue, **kw)

    async def delivered(self: SpeculateController, delivery: Any) -> None:
        counts["deliveries"] += 1
        await process(self, delivery)

    SpeculateController.run = run  # type: ignore[method-assign]
    SpeculateController.process = delivered  # type: ignore[method-assign]
    sa.event.listen(s.storage.engine, "begin", began)
    sa.event.listen(s.storage.engine, "before_cursor_execute", executed)
    await s.start()
    ids = [await s.land(f"c{i}") for i in range(requests)]
    await s.settle()
    for _ in range(requests):
        if all(s.log.final(r) for r in ids):
            break
        await s.release()
    await s.stop()
    SpeculateController.run = original  # type: ignore[method-assign]
    SpeculateController.process = process  # type: ignore[method-assign]
    counts["messages"] = sum(p.last_seq for p in s.store.partitions(m.TOPIC_SPECULATE))
    landed = sum(s.log.final(r) == "landed" for r in ids)
    if landed != requests:
        raise SystemExit(f"only {landed} of {requests} landed")
    return {k: v / landed for k, v in counts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=60)
    args = parse_with_quick(parser, {"requests": 10})
    with tempfile.TemporaryDirectory() as tmp:
        per = asyncio.run(measure(args.requests, Path(tmp)))
    print(
        f"RESULT requests={args.requests} transactions_per_landed={per['transactions']:.1f}"
        f" statements_per_landed={per['statements']:.1f}"
        f" speculate_runs_per_landed={per['runs']:.2f}"
        f" speculate_messages_per_landed={per['messages']:.2f}"
        f" speculate_deliveries_per_landed={per['deliveries']:.2f}"
    )


if __name__ == "__main__":
    main()
