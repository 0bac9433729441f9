"""What the HTTP guard (bearer tokens, body cap) costs a request, side by side in one run.

Every service's routes in one app, as `sq serve` builds them, called in-process over ASGI (no
socket): a cheap read (`GET /api/v1/stovepipe/queues`) and a write that reaches its handler
(`POST /api/v1/hooks/replay` of an unknown event, 404: the route that declares the admin scope),
on an open app (no token configured) and on a guarded one with an admin token. Figures are CPU
time of the process (its threads included), so that other work on the machine does not blur
them. Rounds alternate between the two apps; each figure is the median over `--rounds` of the
mean over `--requests` calls.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx2
from fastapi import FastAPI

from benchargs import parse_with_quick
from sq.service.access import Scope
from sq.service.settings import Settings
from sq.service.settings_auth import AuthSettings, TokenSource
from sq.service.stack import LocalStack, service_names

TOKEN_ENV = "SQ_BENCH_ADMIN_TOKEN"
HEADERS = {"Authorization": "Bearer bench-admin"}


def build(root: Path, guarded: bool) -> tuple[LocalStack, FastAPI]:
    sources = [TokenSource(env=TOKEN_ENV, scope=Scope.ADMIN)] if guarded else []
    settings = Settings(data_dir=root, auth=AuthSettings(tokens=sources))
    stack = LocalStack(settings, service_names(), "127.0.0.1", 0)
    return stack, stack.app


async def per_request_us(
    app: FastAPI, requests: int, headers: dict[str, str]
) -> tuple[float, float]:
    transport = httpx2.ASGITransport(app=app)
    async with httpx2.AsyncClient(transport=transport, base_url="http://sq") as http:
        started = time.process_time()
        for _ in range(requests):
            response = await http.get("/api/v1/stovepipe/queues", headers=headers)
            assert response.status_code == 200, response.text
        read = (time.process_time() - started) / requests * 1e6
        started = time.process_time()
        for _ in range(requests):
            response = await http.post(
                "/api/v1/hooks/replay", json={"event_id": "none"}, headers=headers
            )
            assert response.status_code == 404, response.text
        write = (time.process_time() - started) / requests * 1e6
    return read, write


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    args = parse_with_quick(parser, {"requests": 100, "rounds": 2})
    os.environ[TOKEN_ENV] = "bench-admin"
    with tempfile.TemporaryDirectory() as tmp:
        open_stack, open_app = build(Path(tmp) / "open", guarded=False)
        guarded_stack, guarded_app = build(Path(tmp) / "guarded", guarded=True)
        routes = len(guarded_app.openapi()["paths"])
        samples: dict[str, list[float]] = {k: [] for k in ("open_r", "open_w", "g_r", "g_w")}
        await per_request_us(open_app, 50, {})
        await per_request_us(guarded_app, 50, HEADERS)
        for _ in range(args.rounds):
            r, w = await per_request_us(open_app, args.requests, {})
            samples["open_r"].append(r)
            samples["open_w"].append(w)
            r, w = await per_request_us(guarded_app, args.requests, HEADERS)
            samples["g_r"].append(r)
            samples["g_w"].append(w)
        for stack in (open_stack, guarded_stack):
            await stack.close()
    med = {k: statistics.median(v) for k, v in samples.items()}
    print(f"{routes} documented paths; {args.rounds} rounds x {args.requests} requests each")
    print(f"read  open {med['open_r']:8.1f} us   guarded {med['g_r']:8.1f} us")
    print(f"write open {med['open_w']:8.1f} us   guarded {med['g_w']:8.1f} us")
    read_ratio = med["g_r"] / med["open_r"]
    write_ratio = med["g_w"] / med["open_w"]
    print(
        f"RESULT guarded_over_open_read={read_ratio:.2f} guarded_over_open_write={write_ratio:.2f} "
        f"open_read_us={med['open_r']:.0f} guarded_read_us={med['g_r']:.0f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
