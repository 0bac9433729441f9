"""`sq replay`: land a repository's recent history again, through the whole SubmitQueue stack.

The last N commits on a branch's first-parent line (merged pull requests, squashed or merged) are
each replayed as one change branch onto the commit before them, the *base*, in a sandbox repository
whose target branch is one commit holding the base's tree. Every branch is sent to the queue at
once, in history order, as a team's pull requests would be; the queue builds them with the
project's own build command and lands them. At the end it says how many builds the queue spent per
landed change and whether the landed trunk's tree is the original tip's.

A commit that does not apply to the base on its own (it needs an earlier commit of the replay) is
skipped and named: a queue would refuse it too, as a merge conflict. Nothing is written to the
source repository: the sandbox borrows its objects.
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
from sq.service.demo.landing import one_queue
from sq.service.settings import Settings
from sq.service.settings_submitqueue import BuildConfig, QueueConfig
from sq.service.stack import LocalStack
from sq.submitqueue.client.http import GatewayClient
from sq.submitqueue.client.live import follow
from sq.submitqueue.client.watch import Watch
from sq.submitqueue.core.messages import LandStrategy

QUEUE = "replay"
BRANCHES = "sq-replay"
"""The replayed changes are branches `sq-replay/<n>` of the sandbox."""
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
    """One commit of the history, replayed onto the base as branch `sq-replay/<number>`."""

    number: int
    original: str
    subject: str
    head: str

    @property
    def branch(self) -> str:
        return f"{BRANCHES}/{self.number}"


@dataclass(slots=True)
class ReplayPlan:
    base: str
    """The source's commit before the replayed ones."""
    tip: str
    tip_tree: str = ""
    changes: list[ReplayedChange] = field(default_factory=list)
    skipped: list[tuple[str, str, str]] = field(default_factory=list)
    """(original sha, subject, why) of each commit not replayed."""


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


def git(*args: str, cwd: Path, as_replayer: bool = False) -> str:
    """Run git as the replay: committer `REPLAYER`; authors stay the commits' own, or are
    `REPLAYER` too for a commit the replay makes itself (`as_replayer`)."""
    name, email = REPLAYER
    env = git_environment() | {"GIT_COMMITTER_NAME": name, "GIT_COMMITTER_EMAIL": email}
    if as_replayer:
        env |= {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
        )
    except OSError as exc:
        raise ReplayError(f"cannot run git: {exc}") from None
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
    if branch == BRANCHES or branch.startswith(f"{BRANCHES}/"):
        raise ReplayError(f"--branch {branch!r}: {BRANCHES}/… names the replay's own branches")
    ref = f"refs/heads/{branch}"
    try:
        git("check-ref-format", ref, cwd=source)
        tip = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=source).strip()
    except ReplayError:
        raise ReplayError(f"{source} has no branch {branch!r}") from None
    line = git("rev-list", "--first-parent", f"--max-count={last + 1}", tip, cwd=source).split()
    if len(line) == 1:
        raise ReplayError(f"branch {branch!r} has one commit: there is no base to replay onto")
    if len(line) <= last:
        raise ReplayError(
            f"branch {branch!r} has {len(line)} commits: --last can be at most {len(line) - 1}"
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


def prepare_sandbox(sandbox: Path | None, data_dir: Path, source: Path) -> Path:
    """The directory the replay works in: `--sandbox` (absent or empty) or `<data-dir>/replay`,
    whose previous replay is removed. Neither may hold the source or lie inside it."""
    target = (sandbox if sandbox is not None else data_dir / "replay").resolve()
    repository = source.resolve()
    if target == repository or target.is_relative_to(repository):
        where = "--sandbox" if sandbox is not None else "the data directory (--data-dir)"
        raise ReplayError(f"{where} is inside {source}; give one outside the repository")
    if repository.is_relative_to(target):
        raise ReplayError(f"{source} is inside {target}, which the replay would clear")
    try:
        if sandbox is not None:
            if target.exists() and any(target.iterdir()):
                raise ReplayError(f"--sandbox {sandbox} is not empty; give a new directory")
        else:
            shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ReplayError(f"cannot use {target} for the replay: {exc}") from None
    return target


def build_sandbox(options: ReplayOptions, root: Path, base: str, commits: list[str]) -> ReplayPlan:
    """A bare repository at `root/origin.git` whose target is one commit holding the base's tree,
    and one pushed branch per replayable commit on top of it, made in `root/work` (a clone that
    borrows the source's objects). The history before the base is left behind, so a shallow or
    a very long source replays alike."""
    origin, work = root / "origin.git", root / "work"
    source = str(options.source.resolve())
    git("init", "--quiet", "--bare", f"--initial-branch={options.branch}", str(origin), cwd=root)
    git("clone", "--quiet", "--shared", "--no-checkout", "--no-tags", "--single-branch",
        "--branch", options.branch, source, str(work), cwd=root)  # fmt: skip
    subject = git("log", "-1", "--format=%s", base, cwd=work).strip()
    start = git(
        "commit-tree", f"{base}^{{tree}}", "-m", f"replay base: {base[:12]} {subject}",
        cwd=work, as_replayer=True,
    ).strip()  # fmt: skip
    tip_tree = git("rev-parse", f"{commits[-1]}^{{tree}}", cwd=work).strip()
    plan = ReplayPlan(base=base, tip=commits[-1], tip_tree=tip_tree)
    for sha in commits:
        subject = git("log", "-1", "--format=%s", sha, cwd=work).strip()
        branch = f"{BRANCHES}/{len(plan.changes) + 1}"
        head, why = _replay_onto(work, start, sha, branch)
        if head is None:
            plan.skipped.append((sha, subject, why))
        else:
            plan.changes.append(ReplayedChange(len(plan.changes) + 1, sha, subject, head))
    refs = [f"{start}:refs/heads/{options.branch}"]
    refs += [f"{c.branch}:refs/heads/{c.branch}" for c in plan.changes]
    git("push", "--quiet", str(origin), *refs, cwd=work)
    return plan


def _replay_onto(work: Path, base: str, sha: str, branch: str) -> tuple[str | None, str]:
    """`sha`'s change (against its first parent) as one commit on `base`, or None and why not:
    it changes nothing, or it does not apply to the base on its own."""
    parents = git("rev-list", "--parents", "-n", "1", sha, cwd=work).split()[1:]  # never none:
    # the base, or a replayed commit, comes before it on the first-parent line
    if git("diff", "--name-only", parents[0], sha, cwd=work).strip() == "":
        return None, "it changes nothing"
    git("checkout", "--quiet", "--force", "-B", branch, base, cwd=work)
    mainline = ["-m", "1"] if len(parents) > 1 else []
    try:
        git("cherry-pick", "--no-rerere-autoupdate", *mainline, sha, cwd=work)
    except ReplayError:
        subprocess.run(
            ["git", "cherry-pick", "--abort"], cwd=work, env=git_environment(),
            capture_output=True, check=False,
        )  # fmt: skip
        return None, "it does not apply to the base on its own"
    return git("rev-parse", "HEAD", cwd=work).strip(), ""


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
    return one_queue(base, queue, state)


async def run_replay(
    base: Settings, options: ReplayOptions, console: Console, say: Callable[[str], None]
) -> ReplayOutcome:
    first, commits = history(options.source, options.branch, options.last)
    root = prepare_sandbox(options.sandbox, base.data_dir, options.source)
    say(f"Replaying the last {options.last} commit(s) of {options.branch} in {options.source}")
    plan = build_sandbox(options, root, first, commits)
    origin = root / "origin.git"
    say(f"Base {plan.base[:12]}; sandbox {origin}")
    for sha, subject, why in plan.skipped:
        say(f"skipped {sha[:12]} {subject!r}: {why}")
    if not plan.changes:
        raise ReplayError("no commit of the replay applies to the base on its own")
    outcome = ReplayOutcome(plan=plan, origin=origin)
    settings = replay_settings(base, options, origin, root / "state")
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
            outcome.status = await follow(
                watch, console, live=options.live, interval=options.interval
            )
            outcome.seconds = time.monotonic() - started
        outcome.builds = await read_build_counts(stack.address, QUEUE)
    finally:
        await stack.group.stop()
        await stack.close()
    landed_tree = git("rev-parse", f"refs/heads/{options.branch}^{{tree}}", cwd=origin).strip()
    outcome.tree_matches_tip = landed_tree == plan.tip_tree
    return outcome
