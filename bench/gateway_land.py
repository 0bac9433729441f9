"""Land requests per second and p99 latency through `sq serve gateway`, beside the same server's
no-op endpoint (`/healthz`), with 1 and 16 concurrent clients, on SQLite and on PostgreSQL.

Each backend gets a fresh server process (a temporary data directory; for PostgreSQL a database
created and dropped here, used for both the queue and the gateway). A land is the full API path:
validation, the request counter, the receipt, the `start` publish and the `accepted` log entry.
Ratio = land rate / no-op rate at the same concurrency (how much of the HTTP stack's capacity a
land costs). PostgreSQL runs when SQ_TEST_POSTGRES_URL (or --postgres) names a server.

Last line: `RESULT land_vs_noop_sqlite=<ratio at 16 clients> land_vs_noop_pg=<… or n/a>`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import httpx2

from benchargs import parse_with_quick
from benchdb import fresh_postgres_url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def gateway_server(workdir: Path, db_url: str | None, timeout: float) -> Iterator[str]:
    lines = ["log: {level: warning}"]
    if db_url:
        lines += [f"mq: {{url: '{db_url}'}}", f"submitqueue: {{gateway_database_url: '{db_url}'}}"]
    (workdir / "sq.yaml").write_text("\n".join(lines) + "\n")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sq", "serve", "gateway", "--port", str(port)],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    try:
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{base}/readyz", timeout=2):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the gateway did not start")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=60)


async def measure(base: str, land: bool, clients: int, total: int) -> tuple[float, float]:
    """(requests per second, p99 latency in ms) for `total` requests over `clients` workers."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker(http: httpx2.AsyncClient) -> None:
        for i in counter:
            started = time.perf_counter()
            if land:
                body = {"queue": "demo", "change_uris": [f"fake://bench/change-{i}"]}
                response = await http.post("/api/v1/requests", json=body)
                assert response.status_code == 201, response.text
            else:
                response = await http.get("/healthz")
                assert response.status_code == 200
            latencies.append(time.perf_counter() - started)

    limits = httpx2.Limits(max_connections=clients)
    async with httpx2.AsyncClient(base_url=base, limits=limits, timeout=60) as http:
        for _ in range(min(20, total)):  # warm the connections and the server's caches
            await http.get("/healthz")
        started = time.perf_counter()
        await asyncio.gather(*(worker(http) for _ in range(clients)))
        wall = time.perf_counter() - started
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000
    return total / wall, p99


def run_backend(label: str, db_url: str | None, args: argparse.Namespace) -> float:
    with (
        tempfile.TemporaryDirectory() as tmp,
        gateway_server(Path(tmp), db_url, args.timeout) as base,
    ):
        ratio = 0.0
        for clients in (1, 16):
            noop_rate, noop_p99 = asyncio.run(measure(base, False, clients, args.noop))
            land_rate, land_p99 = asyncio.run(measure(base, True, clients, args.lands))
            ratio = land_rate / noop_rate
            print(
                f"{label:<10} clients={clients:<3} land {land_rate:8.1f}/s p99 {land_p99:7.1f} ms"
                f"   noop {noop_rate:8.1f}/s p99 {noop_p99:6.1f} ms   ratio {ratio:.3f}",
                flush=True,
            )
        return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lands", type=int, default=500)
    parser.add_argument("--noop", type=int, default=2000)
    parser.add_argument("--postgres", default=os.environ.get("SQ_TEST_POSTGRES_URL"))
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parse_with_quick(parser, {"lands": 50, "noop": 200})
    sqlite_ratio = run_backend("sqlite", None, args)
    pg = "n/a"
    if args.postgres:
        with fresh_postgres_url(args.postgres) as url:
            pg = f"{run_backend('postgresql', url, args):.3f}"
    else:
        print("postgresql skipped: set SQ_TEST_POSTGRES_URL or --postgres", flush=True)
    print(f"RESULT land_vs_noop_sqlite={sqlite_ratio:.3f} land_vs_noop_pg={pg}")


if __name__ == "__main__":
    main()
