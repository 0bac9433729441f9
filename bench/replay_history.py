"""Builds per landed change when a history lands again through the whole stack (`sq replay`), for
the queue's scorers and landing modes side by side (doc/benchmarks.md, "Replaying a real
project's history").

Without `--repo` the bench writes a history of its own: `--changes` good pull requests of 25 to 40
lines each, most in `src/` (so `pathoverlap` at the parent directory makes them one line of
dependencies) and every fourth in `docs/`, and a build that sleeps `--build-seconds` before its
check. With `--repo` it replays that repository's `--branch` with `--build-command`. Each
configuration is one `sq replay` in a fresh data directory, one after another, on the same
history:

- `history`: the queue's defaults (history scorer, exact landing);
- `heuristic`: `--scorer heuristic`, the reference's size buckets (the default until the
  twenty-first session);
- `constant`: `--scorer constant`;
- `disjoint`: `--landing disjoint` (independent lanes land side by side).

RESULT: `<config>_builds_per_landed` and `<config>_seconds` for each, and the ratios
`heuristic_vs_history_builds` and `disjoint_vs_history_seconds` when both ran.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from benchargs import parse_with_quick

CONFIGS = {
    "history": [],
    "heuristic": ["--scorer", "heuristic"],
    "constant": ["--scorer", "constant"],
    "disjoint": ["--landing", "disjoint"],
}
CHECK = "#!/bin/sh\n! grep -rl --exclude-dir=.git FAIL -- src docs\n"


def git(root: Path, *args: str) -> str:
    env = os.environ | {
        "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
        "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com",
        "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    }  # fmt: skip
    done = subprocess.run(
        ["git", *args], cwd=root, env=env, capture_output=True, text=True, check=True
    )
    return done.stdout


def write_history(root: Path, changes: int) -> None:
    """A base and `changes` good commits on `main`, each a new module of 25-40 lines."""
    root.mkdir(parents=True)
    git(root, "init", "--quiet", "--initial-branch=main")
    (root / "ci.sh").write_text(CHECK)
    for folder in ("src", "docs"):
        (root / folder).mkdir()
        (root / folder / "README").write_text(f"{folder}\n")
    git(root, "add", "--all")
    git(root, "commit", "--quiet", "-m", "base")
    for k in range(1, changes + 1):
        folder = "docs" if k % 4 == 0 else "src"
        lines = 25 + (k * 7) % 16
        body = "".join(f"line {i} of change {k}\n" for i in range(lines))
        (root / folder / f"change_{k}.txt").write_text(body)
        git(root, "add", "--all")
        git(root, "commit", "--quiet", "-m", f"change {k}: {lines} lines in {folder}/")


def replay(
    repo: Path, branch: str, last: int, command: str, extra: list[str], data_dir: Path
) -> dict[str, str]:
    args = [
        sys.executable, "-m", "sq", "replay", str(repo), "--branch", branch, "--last", str(last),
        "--build-command", command, "--data-dir", str(data_dir), *extra,
    ]  # fmt: skip
    done = subprocess.run(args, capture_output=True, text=True, check=False, cwd=data_dir.parent)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.exit(f"sq replay {' '.join(extra)} failed ({done.returncode}): {done.stderr[-2000:]}")
    return dict(pair.split("=", 1) for pair in lines[-1].split()[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=None, help="replay this repository instead")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--last", type=int, default=None, help="default: all of --changes")
    parser.add_argument("--build-command", default=None, help="with --repo: its test command")
    parser.add_argument("--changes", type=int, default=10, help="without --repo: history length")
    parser.add_argument("--build-seconds", type=float, default=3.0)
    parser.add_argument("--configs", default="history,heuristic,constant,disjoint")
    parser.add_argument(
        "--keep", type=Path, default=None, help="keep each replay's data directory under this one"
    )
    args = parse_with_quick(
        parser, {"changes": 6, "build_seconds": 1.0, "configs": "history,heuristic"}
    )
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configuration {unknown[0]!r}; choose from {', '.join(CONFIGS)}")
    with tempfile.TemporaryDirectory(prefix="sq-replay-bench-") as scratch:
        work = Path(scratch) if args.keep is None else args.keep.resolve()
        work.mkdir(parents=True, exist_ok=True)
        if args.repo is None:
            repo, last = work / "history", args.last or args.changes
            write_history(repo, args.changes)
            command = f"sleep {args.build_seconds:g} && sh ci.sh"
        else:
            if not args.build_command:
                parser.error("--repo needs --build-command")
            repo, last, command = args.repo.resolve(), args.last or 10, args.build_command
        print(f"replaying the last {last} commits of {args.branch} in {repo}")
        print("config replayed landed skipped builds builds_per_landed seconds")
        results: dict[str, dict[str, str]] = {}
        for name in configs:
            data_dir = work / f"data-{name}"
            data_dir.mkdir()  # an existing one (--keep reused) is refused here
            got = replay(repo, args.branch, last, command, CONFIGS[name], data_dir)
            results[name] = got
            print(
                f"{name} {got['replayed']} {got['landed']} {got['skipped']} {got['builds']} "
                f"{got['builds_per_landed']} {got['seconds']}",
                flush=True,
            )
    figures = {}
    for name, got in results.items():
        figures[f"{name}_builds_per_landed"] = got["builds_per_landed"]
        figures[f"{name}_seconds"] = got["seconds"]
    if {"history", "heuristic"} <= results.keys():
        figures["heuristic_vs_history_builds"] = _ratio(results, "heuristic", "history", "builds")
    if {"history", "disjoint"} <= results.keys():
        figures["disjoint_vs_history_seconds"] = _ratio(results, "disjoint", "history", "seconds")
    print("RESULT " + " ".join(f"{k}={v}" for k, v in figures.items()))


def _ratio(results: dict[str, dict[str, str]], top: str, bottom: str, key: str) -> str:
    under = float(results[bottom][key])
    return f"{float(results[top][key]) / under:.2f}" if under else "-"


if __name__ == "__main__":
    main()
