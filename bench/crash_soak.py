"""Crash soak: SIGKILL a random SubmitQueue process at random moments, restart it, and repeat;
then check that nothing was lost, nothing landed twice, nothing failed landed and every tree the
queue put on the target passes the build.

The gateway, the orchestrator and runway run as three `sq serve NAME` processes on one backend
(SQLite files in one data directory, or one PostgreSQL database per service and the queue), with
the git provider, the command build runner (`sh ci.sh` of the demo sandbox: a tree fails when a
file says FAIL) and squash-rebase landings into a bare repository. Every round (every Nth with
`--land-every N`) lands one new change, every seventh made to fail; then it waits a random moment,
SIGKILLs one process (with its builds and git children) and starts it again. A third of runway's
kills wait for a push to be in flight first: hooks in the bare repository hold each push for a
moment before (`pre-receive`) or after (`post-receive`) the target moves, and the kill lands
inside that moment.

When the rounds are done, the processes run undisturbed until every request is terminal (or a
deadline passes), and the target is checked:

- lost: requests not terminal, plus those whose status disagrees with the target (landed but
  absent, or present but not landed);
- double_landed: changes found on the target more than once;
- failed_landed: changes made to fail found on the target;
- red_trees: first-parent commits after the seed where `sh ci.sh` fails in a checkout;
- good_failed: changes not made to fail whose request ended `error` (a crash failed a good change).

Last line: `RESULT kills=… requests=… lost=… double_landed=… failed_landed=… red_trees=…
good_failed=… backend=…`. PostgreSQL needs SQ_TEST_POSTGRES_URL (or --postgres-url).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchargs import parse_with_quick
from benchdb import fresh_postgres_url
from benchnet import call, free_port
from sq.service.demo.sandbox import BUILD_COMMAND, DemoChange, DemoRepository

PG_ENV = "SQ_TEST_POSTGRES_URL"
SERVICES = ("gateway", "orchestrator", "runway")
TERMINAL = {"landed", "error", "cancelled"}
FOLDERS = 4
HOOK = "#!/bin/sh\necho {kind} >> {log}\nsleep 0.3\n"


class Service:
    """One `sq serve NAME` process on its own port; killed with SIGKILL, started again."""

    def __init__(self, name: str, root: Path, config: Path) -> None:
        self.name, self.root = name, root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.argv = [
            sys.executable, "-m", "sq", "serve", name, "--config", str(config),
            "--data-dir", str(root / "data"), "--port", str(self.port),
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with (self.root / f"{self.name}-{self.starts}.log").open("wb") as log:
            self.proc = subprocess.Popen(
                self.argv, cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited; see {self.name}-{self.starts}.log")
            with contextlib.suppress(OSError):
                if call("GET", f"{self.base}/readyz")[0] == 200:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.name} never became ready")
            time.sleep(0.1)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=30)


def write_config(path: Path, origin: Path, urls: dict[str, str]) -> None:
    lines = [
        "mq:",
        f"  url: {json.dumps(urls['mq'])}" if "mq" in urls else "  url: null",
        "  poll_interval_ms: 100",
        "submitqueue:",
    ]
    lines += [
        f"  {service}_database_url: {json.dumps(urls[service])}"
        for service in ("gateway", "orchestrator")
        if service in urls
    ]
    lines += [
        "  queues:",
        "    - name: main",
        "      provider: git",
        f"      repository: {json.dumps(str(origin))}",
        "      strategy: squash-rebase",
        f"      build: {{runner: command, command: {json.dumps(BUILD_COMMAND)}, timeout: 60s}}",
        "      conflict_analyzer: pathoverlap",
    ]
    path.write_text("\n".join(lines) + "\n")


def install_hooks(origin: Path, pushes: Path) -> None:
    for kind in ("pre-receive", "post-receive"):
        hook = origin / "hooks" / kind
        hook.write_text(HOOK.format(kind=kind, log=pushes))
        hook.chmod(0o755)


def change(number: int, fail_every: int) -> DemoChange:
    return DemoChange(
        number=number,
        folder=f"folder-{(number - 1) % FOLDERS + 1}",
        files=1,
        fails=number % fail_every == 0,
    )


class Soak:
    def __init__(self, root: Path, urls: dict[str, str], rng: random.Random, gap_s: float):
        self.root, self.rng, self.gap_s = root, rng, gap_s
        self.repo = DemoRepository.create(root / "sandbox", folders=FOLDERS)
        self.pushes = root / "pushes.log"
        install_hooks(self.repo.origin, self.pushes)
        config = root / "sq.yaml"
        write_config(config, self.repo.origin, urls)
        self.services = {name: Service(name, root, config) for name in SERVICES}
        self.requests: dict[str, DemoChange] = {}
        self.kills: Counter[str] = Counter()

    def land(self, fail_every: int) -> None:
        item = change(len(self.requests) + 1, fail_every)
        uri = self.repo.git_uri(item, self.repo.push(item))
        gateway = self.services["gateway"].base
        code, body = call(
            "POST", f"{gateway}/api/v1/requests", {"queue": "main", "change_uris": [uri]}
        )
        if code != 201:
            raise RuntimeError(f"land refused: {code} {body}")
        self.requests[str(body["id"])] = item

    def pushes_seen(self, kind: str) -> int:
        text = self.pushes.read_text() if self.pushes.exists() else ""
        return text.split().count(kind)

    def kill_one(self) -> None:
        name = self.rng.choice(SERVICES)
        label = name
        if name == "runway" and self.rng.random() < 1 / 3:
            kind = self.rng.choice(("pre-receive", "post-receive"))
            seen = self.pushes_seen(kind)
            deadline = time.monotonic() + 20
            while self.pushes_seen(kind) == seen and time.monotonic() < deadline:
                time.sleep(0.02)
            if self.pushes_seen(kind) > seen:
                label = f"runway-mid-push-{kind.split('-')[0]}"
        else:
            time.sleep(self.rng.uniform(0, self.gap_s))
        self.services[name].kill()
        self.kills[label] += 1
        self.services[name].start()

    def statuses(self) -> dict[str, str]:
        gateway = self.services["gateway"].base
        found = {}
        for request_id in self.requests:
            queue, _, number = request_id.rpartition("/")
            code, body = call("GET", f"{gateway}/api/v1/requests/{queue}/{number}")
            found[request_id] = str(body["status"]) if code == 200 else f"http {code}"
        return found

    def settle(self, deadline_s: float) -> dict[str, str]:
        deadline = time.monotonic() + deadline_s
        while True:
            statuses = self.statuses()
            if all(s in TERMINAL for s in statuses.values()) or time.monotonic() > deadline:
                return statuses
            time.sleep(1.0)

    def stop(self) -> None:
        for service in self.services.values():
            service.kill()


def red_trees(repo: DemoRepository, commits: list[str], root: Path) -> list[str]:
    red = []
    for sha in commits:
        tree = root / "check" / sha
        repo.sandbox.git("worktree", "add", "--detach", str(tree), sha, cwd=repo.origin)
        done = subprocess.run(["sh", "-c", BUILD_COMMAND], cwd=tree, capture_output=True)
        if done.returncode != 0:
            red.append(sha)
    return red


def verdict(soak: Soak, statuses: dict[str, str]) -> dict[str, int]:
    repo = soak.repo
    commits = repo.sandbox.git(
        "rev-list", "--first-parent", "--reverse", "main", cwd=repo.origin
    ).split()[1:]
    subjects = repo.sandbox.git("log", "--format=%s", "main", cwd=repo.origin).splitlines()
    on_target = Counter(int(n) for s in subjects for n in re.findall(r"add change (\d+)$", s))
    landed = {soak.requests[r].number for r, s in statuses.items() if s == "landed"}
    unfinished = sum(1 for s in statuses.values() if s not in TERMINAL)
    return {
        "lost": unfinished + len(landed ^ set(on_target)),
        "double_landed": sum(1 for n in on_target.values() if n > 1),
        "failed_landed": sum(
            1 for r, c in soak.requests.items() if c.fails and c.number in on_target
        ),
        "red_trees": len(red_trees(repo, commits, soak.root)),
        "good_failed": sum(
            1 for r, s in statuses.items() if s == "error" and not soak.requests[r].fails
        ),
        "landed": len(landed),
    }


@contextlib.contextmanager
def backend_urls(backend: str, server: str | None) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        yield {}
        return
    if not server:
        raise SystemExit(f"--backend postgres needs {PG_ENV} or --postgres-url")
    with (
        fresh_postgres_url(server, "sqsoak") as mq,
        fresh_postgres_url(server, "sqsoak") as gateway,
        fresh_postgres_url(server, "sqsoak") as orchestrator,
    ):
        yield {"mq": mq, "gateway": gateway, "orchestrator": orchestrator}


def run(args: argparse.Namespace, root: Path) -> dict[str, int]:
    rng = random.Random(args.seed)
    with backend_urls(args.backend, args.postgres_url) as urls:
        soak = Soak(root, urls, rng, args.gap)
        try:
            for name in SERVICES:
                soak.services[name].start()
            for _ in range(args.initial):
                soak.land(args.fail_every)
            started = time.monotonic()
            for n in range(args.kills):
                if n % args.land_every == 0:
                    soak.land(args.fail_every)
                soak.kill_one()
                print(f"kill {n + 1}/{args.kills}: {dict(soak.kills)}", flush=True)
            statuses = soak.settle(args.settle)
            took = time.monotonic() - started
        finally:
            soak.stop()
        counts = verdict(soak, statuses)
        print(f"seed {args.seed}; {took:.0f}s of kills and settling; kills by target: "
              f"{dict(sorted(soak.kills.items()))}")  # fmt: skip
        print(f"statuses: {dict(sorted(Counter(statuses.values()).items()))}")
        counts["kills"] = sum(soak.kills.values())
        counts["requests"] = len(soak.requests)
        return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get(PG_ENV))
    parser.add_argument("--initial", type=int, default=6, help="Requests landed before the kills")
    parser.add_argument("--fail-every", type=int, default=7, help="Every Nth change fails")
    parser.add_argument("--land-every", type=int, default=1, help="A new request every N kills")
    parser.add_argument("--gap", type=float, default=3.0, help="Longest wait before a kill (s)")
    parser.add_argument("--settle", type=float, default=600.0, help="Deadline to settle (s)")
    parser.add_argument("--seed", type=int, default=random.randrange(1 << 30))
    parser.add_argument("--keep", action="store_true", help="Keep the data directory")
    args = parse_with_quick(parser, {"kills": 3, "initial": 2, "gap": 1.0, "settle": 180.0})
    root = Path(tempfile.mkdtemp(prefix="sq-soak-"))
    try:
        counts = run(args, root)
    finally:
        if not args.keep:
            subprocess.run(["rm", "-rf", str(root)], check=False)
        else:
            print(f"kept {root}")
    keys = (
        "kills",
        "requests",
        "lost",
        "double_landed",
        "failed_landed",
        "red_trees",
        "good_failed",
    )
    print("RESULT " + " ".join(f"{k}={counts[k]}" for k in keys) + f" backend={args.backend}")


if __name__ == "__main__":
    main()
