"""`sq replay`: land a repository's recent history again, through the whole SubmitQueue stack.

The last N commits on a branch's first-parent line (merged pull requests, squashed or merged) are
each replayed as one change branch onto the commit before them, the *base*, in a sandbox clone
whose target branch is reset to that base. Every branch is sent to the queue at once, in history
order, as a team's pull requests would be; the queue builds them with the project's own build
command and lands them. At the end it says how many builds the queue spent per landed change and
whether the landed trunk's tree is the original tip's.

A commit that does not apply to the base on its own (it needs an earlier commit of the replay) is
skipped and named: a queue would refuse it too, as a merge conflict. Nothing is written to the
source repository: the sandbox is a bare clone of it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from rich.console import Console

from sq.api.runway import LandingCheck
from sq.platform.changeuri import branch_head_uri
from sq.platform.git.command import git_environment
from sq.service.demo.builds import BuildCounts, read_build_counts
from sq.service.settings import Settings
from sq.service.settings_auth import AuthSettings
from sq.service.settings_submitqueue import BuildConfig, QueueConfig, SubmitQueueSettings
from sq.service.stack import LocalStack
from sq.submitqueue.client.http import GatewayClient
from sq.submitqueue.client.live import follow_live
from sq.submitqueue.client.watch import Watch, follow_plain
from sq.submitqueue.core.messages import LandStrategy

QUEUE = "replay"
MAX_COMMITS = 200
REPLAYER = ("SubmitQueue replay", "replay@submitqueue.invalid")
Analyzer = Literal["all", "none", "pathoverlap"]
Speculator = Literal["standard", "value"]
Scorer = Literal["constant", "heuristic", "history"]


class ReplayError(Exception):
    """Bad replay input or an unusable repository or sandbox (exit 2)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplayOptions:
    source: Path
    branch: str = "main"
    last: int = 10
    build_command: str
    build_timeout_s: int = 1800
    budget: int = 4
    speculator: Speculator = "value"
    analyzer: Analyzer = "pathoverlap"
    scorer: Scorer | None = None
    """None: the queue's default."""
    landing: LandingCheck = LandingCheck.EXACT
    strategy: LandStrategy = LandStrategy.SQUASH_REBASE
    sandbox: Path | None = None
    live: bool = False
    interval: float = 1.0


@dataclass(frozen=True, slots=True)
class ReplayedChange:
    """One commit of the history, replayed onto the base as branch `replay/<number>`."""

    number: int
    original: str
    subject: str
    head: str

    @property
    def branch(self) -> str:
        return f"replay/{self.number}"


@dataclass(slots=True)
class ReplayPlan:
    base: str
    tip: str
    changes: list[ReplayedChange] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(original sha, subject) of each commit that does not apply to the base on its own."""


@dataclass(slots=True)
class ReplayOutcome:
    plan: ReplayPlan
    origin: Path
    status: dict[str, str] = field(default_factory=dict)
    """Final status per request id."""
    requests: dict[str, ReplayedChange] = field(default_factory=dict)
    builds: BuildCounts | None = None
    seconds: float = 0.0
    tree_matches_tip: bool = False
    """The landed trunk's tree is the original tip's (meaningful when everything landed)."""

    @property
    def landed(self) -> int:
        return sum(1 for s in self.status.values() if s == "landed")

    @property
    def builds_per_landed(self) -> float | None:
        return None if self.builds is None else self.builds.per_landed(self.landed)


def git(*args: str, cwd: Path) -> str:
    """Run git as the replay (committer `REPLAYER`; authors stay the commits' own)."""
    name, email = REPLAYER
    env = git_environment() | {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    done = subprocess.run(
        ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise ReplayError(f"git {' '.join(args)} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


def history(source: Path, branch: str, last: int) -> tuple[str, list[str]]:
    """The base and the last `last` first-parent commits of `branch`, oldest first."""
    if not 1 <= last <= MAX_COMMITS:
        raise ReplayError(f"--last must be between 1 and {MAX_COMMITS}, not {last}")
    if not source.is_dir():
        raise ReplayError(f"{source} is not a directory")
    if not _is_repository_root(source):
        raise ReplayError(f"{source} is not a git repository")
    ref = f"refs/heads/{branch}"
    try:
        git("check-ref-format", ref, cwd=source)
        tip = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=source).strip()
    except ReplayError:
        raise ReplayError(f"{source} has no branch {branch!r}") from None
    line = git("rev-list", "--first-parent", f"--max-count={last + 1}", tip, cwd=source).split()
    if len(line) <= last:
        raise ReplayError(
            f"branch {branch!r} has {len(line)} commit(s): --last can be at most {len(line) - 1}"
        )
    return line[-1], list(reversed(line[:-1]))


def _is_repository_root(path: Path) -> bool:
    """`path` is a repository's work tree or a bare repository (not a folder inside one)."""
    try:
        bare = git("rev-parse", "--is-bare-repository", cwd=path).strip() == "true"
        where = ("--absolute-git-dir",) if bare else ("--show-toplevel",)
        found = Path(git("rev-parse", *where, cwd=path).strip())
    except ReplayError:
        return False
    return found.resolve() == path.resolve()


def prepare_sandbox(sandbox: Path | None, data_dir: Path) -> Path:
    """`--sandbox` (absent or empty) or a fresh `<data-dir>/replay/sandbox`."""
    if sandbox is not None:
        target = sandbox.resolve()
        if target.exists() and any(target.iterdir()):
            raise ReplayError(f"--sandbox {sandbox} is not empty; give a new directory")
        return target
    root = (data_dir / "replay").resolve()
    shutil.rmtree(root, ignore_errors=True)
    return root / "sandbox"


def build_sandbox(options: ReplayOptions, root: Path) -> tuple[Path, ReplayPlan]:
    """A bare clone of the source at `root/origin.git` whose target is the base, and one pushed
    branch per replayable commit. Returns the origin and the plan."""
    base, commits = history(options.source, options.branch, options.last)
    origin, work = root / "origin.git", root / "work"
    root.mkdir(parents=True, exist_ok=True)
    source = str(options.source.resolve())
    git("clone", "--quiet", "--bare", "--no-tags", "--single-branch", "--branch",
        options.branch, source, str(origin), cwd=root)  # fmt: skip
    git("update-ref", f"refs/heads/{options.branch}", base, cwd=origin)
    git("clone", "--quiet", str(origin), str(work), cwd=root)
    plan = ReplayPlan(base=base, tip=commits[-1])
    for sha in commits:
        subject = git("log", "-1", "--format=%s", sha, cwd=work).strip()
        head = _replay_onto(work, base, sha, f"replay/{len(plan.changes) + 1}")
        if head is None:
            plan.skipped.append((sha, subject))
        else:
            plan.changes.append(ReplayedChange(len(plan.changes) + 1, sha, subject, head))
    if plan.changes:
        git("push", "--quiet", "origin", *(f"{c.branch}:refs/heads/{c.branch}"
            for c in plan.changes), cwd=work)  # fmt: skip
    return origin, plan


def _replay_onto(work: Path, base: str, sha: str, branch: str) -> str | None:
    """`sha`'s change (against its first parent) as one commit on `base`, or None when it does
    not apply there cleanly or changes nothing there."""
    git("checkout", "--quiet", "--force", "-B", branch, base, cwd=work)
    parents = git("rev-list", "--parents", "-n", "1", sha, cwd=work).split()[1:]
    mainline = ["-m", "1"] if len(parents) > 1 else []
    try:
        git("cherry-pick", "--no-rerere-autoupdate", *mainline, sha, cwd=work)
    except ReplayError:
        subprocess.run(
            ["git", "cherry-pick", "--abort"], cwd=work, env=git_environment(),
            capture_output=True, check=False,
        )  # fmt: skip
        return None
    head = git("rev-parse", "HEAD", cwd=work).strip()
    return None if head == base else head


def replay_settings(base: Settings, options: ReplayOptions, origin: Path, state: Path) -> Settings:
    queue = QueueConfig(
        name=QUEUE,
        provider="git",
        repository=str(origin),
        target=f"refs/heads/{options.branch}",
        strategy=options.strategy,
        build=BuildConfig(
            runner="command", command=options.build_command, timeout=options.build_timeout_s
        ),
        conflict_analyzer=options.analyzer,
        build_budget=options.budget,
        speculator=options.speculator,
        landing=options.landing,
    )
    if options.scorer is not None:
        queue = queue.model_copy(update={"scorer": options.scorer})
    return base.model_copy(
        update={
            "data_dir": state,
            "port": 0,
            "auth": AuthSettings(tokens=[]),
            "submitqueue": SubmitQueueSettings(queues=[queue]),
        }
    )


async def run_replay(
    base: Settings, options: ReplayOptions, console: Console, say: Callable[[str], None]
) -> ReplayOutcome:
    root = prepare_sandbox(options.sandbox, base.data_dir)
    say(f"Replaying the last {options.last} commit(s) of {options.branch} in {options.source}")
    origin, plan = build_sandbox(options, root)
    say(f"Base {plan.base[:12]}; sandbox {origin}")
    for sha, subject in plan.skipped:
        say(f"skipped {sha[:12]} {subject!r}: it does not apply to the base on its own")
    if not plan.changes:
        raise ReplayError("no commit of the replay applies to the base on its own")
    outcome = ReplayOutcome(plan=plan, origin=origin)
    settings = replay_settings(base, options, origin, root.parent / "state")
    stack = LocalStack(settings, ["gateway", "orchestrator", "runway"], "127.0.0.1", 0)
    await stack.group.start()
    started = time.monotonic()
    try:
        async with GatewayClient(stack.address) as client:
            for change in plan.changes:
                uri = branch_head_uri(str(origin), change.branch, change.head)
                body = await client.land(QUEUE, [str(uri)], options.strategy.value)
                outcome.requests[body["id"]] = change
                say(f"{change.branch} ({change.original[:12]} {change.subject}) → {body['id']}")
            watch = Watch(client, list(outcome.requests))
            if options.live:
                await follow_live(watch, console, interval=options.interval)
            else:
                await follow_plain(watch, console, interval=options.interval)
            outcome.status = {sqid: row.trail.status for sqid, row in watch.rows.items()}
            outcome.seconds = time.monotonic() - started
        outcome.builds = await read_build_counts(stack.address, QUEUE)
    finally:
        await stack.group.stop()
        await stack.close()
    landed_tree = git("rev-parse", f"refs/heads/{options.branch}^{{tree}}", cwd=origin).strip()
    tip_tree = git("rev-parse", f"{plan.tip}^{{tree}}", cwd=origin).strip()
    outcome.tree_matches_tip = landed_tree == tip_tree
    return outcome
