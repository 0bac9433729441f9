"""Where the stack's time goes with many heads in flight: submit N requests at once (instant
fake builds, the `all` analyzer, as `pipeline_overhead.py`), then profile the process for a fixed
time with cProfile and print the functions that cost the most, with how many landed meanwhile.

    .venv/bin/python bench/pipeline_profile.py --heads 250 --seconds 60 [--postgres-url URL]

cProfile sees the event loop's thread; storage calls run on worker threads, so their time shows
as the loop waiting (`to_thread`), and the per-statement figures come from counting statements.
Last line: `RESULT heads=… landed=… landed_per_min=… statements_per_landed=…`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import logging
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import sqlalchemy as sa
import structlog

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchargs import parse_with_quick
from benchdb import fresh_postgres_url
from pipeline_stack import QUEUE, STACK, TERMINAL, BenchRuntime, settings_for, submit
from sq.platform.lifecycle import Group
from sq.service.access import Access
from sq.service.http import build_app
from sq.service.runtime import SERVICES


async def settled(http: httpx2.AsyncClient) -> int:
    """How many requests have settled (landed or ended otherwise) so far."""
    params: dict[str, Any] = {"page_size": 200}
    count = 0
    while True:
        page = (await http.get(f"/api/v1/queues/{QUEUE}/requests", params=params)).json()
        count += sum(1 for r in page["requests"] if r["status"] in TERMINAL)
        if not page.get("next_page_token"):
            return count
        params = {"page_size": 200, "page_token": page["next_page_token"]}


async def profile(data_dir: Path, urls: dict[str, str], args: argparse.Namespace) -> str:
    runtime = BenchRuntime(settings_for(data_dir, urls), urls)
    parts = [SERVICES[name](runtime) for name in STACK]
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    engines = [runtime.queue_engine, *runtime._engines.values()]
    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", count)
    app = build_app([r for p in parts for r in p.routers], ready=lambda: True, access=Access())
    group = Group(*[c for p in parts for c in p.components])
    await group.start()
    profiler = cProfile.Profile()
    try:
        transport = httpx2.ASGITransport(app=app)
        async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
            await submit(http, range(args.heads), 8)
            await asyncio.sleep(args.warmup)
            settled_before = await settled(http)
            began, before = time.monotonic(), statements[0]
            profiler.enable()
            await asyncio.sleep(args.seconds)
            profiler.disable()
            wall = time.monotonic() - began
            used = statements[0] - before
            landed = await settled(http) - settled_before
    finally:
        await group.stop()
        await runtime.queue.close()
        runtime.dispose()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats(args.sort).print_stats(args.top)
    per = used / landed if landed else float("nan")
    return (
        out.getvalue()
        + f"\nstatements: {used} in {wall:.0f}s\n"
        + f"RESULT heads={args.heads} landed={landed} landed_per_min={landed / wall * 60:.1f}"
        + f" statements_per_landed={per:.0f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--heads", type=int, default=250)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument(
        "--warmup", type=float, default=0.0, help="seconds after submitting before profiling"
    )
    parser.add_argument("--sort", default="tottime", help="a pstats key, e.g. cumulative")
    parser.add_argument("--postgres-url", default=None, help="PostgreSQL server; else SQLite")
    args = parse_with_quick(parser, {"heads": 30, "seconds": 20.0})
    logging.disable(logging.WARNING)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    with tempfile.TemporaryDirectory(prefix="sqprofile-") as tmp, contextlib.ExitStack() as stack:
        urls = {}
        if args.postgres_url:
            urls = {
                n: stack.enter_context(fresh_postgres_url(args.postgres_url, "sqprof"))
                for n in ("queue", "gateway", "orchestrator")
            }
        print(asyncio.run(profile(Path(tmp), urls, args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
