"""The demo's git sandbox: a bare repository with a seed commit, and change branches pushed to it.

Each change adds files to one folder in two commits; changes in the same folder conflict for the
`pathoverlap` analyzer (the fake demo's), and no two conflict textually, so each one can land. The
seed holds a test suite, `ci.sh`, that fails when any tracked file says FAIL: a change made to fail
writes that word in its second commit, so exactly the trees that contain it fail their build.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from sq.platform.changeuri import FakeChangeURI, branch_head_uri
from sq.platform.git.sandbox import GitSandbox

BUILD_COMMAND = "sh ci.sh"
CI_SCRIPT = """#!/bin/sh
# The sandbox's test suite: every file in a folder must be free of the word FAIL.
broken=$(grep -rl --exclude-dir=.git FAIL -- folder-* 2>/dev/null)
if [ -n "$broken" ]; then
    echo "broken: $broken"
    exit 1
fi
echo "ok: $(find folder-* -type f 2>/dev/null | wc -l) files checked"
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoChange:
    """One change branch; `stacked_on` names the change it is built on (same request)."""

    number: int
    folder: str
    files: int
    fails: bool
    stacked_on: int | None = None

    @property
    def branch(self) -> str:
        return f"change-{self.number}"

    def paths(self) -> list[str]:
        return [f"{self.folder}/change-{self.number}-{i}.txt" for i in range(self.files)]


def plan_changes(
    count: int, folders: int, files: int, fail: int, stacked: bool
) -> list[DemoChange]:
    """`count` changes whose requests go round-robin over `folders`; `fail` of them, spread
    evenly, fail.

    With `stacked`, every third change is built on the one before it (same folder) and lands with
    it as one request.
    """
    failing = {round((k + 1) * count / (fail + 1)) for k in range(fail)} if fail else set()
    changes: list[DemoChange] = []
    requests = 0
    for number in range(1, count + 1):
        parent = number - 1 if stacked and number % 3 == 0 else None
        if parent is None:
            requests += 1
        changes.append(
            DemoChange(
                number=number,
                folder=f"folder-{(requests - 1) % folders + 1}",
                files=files,
                fails=number in failing,
                stacked_on=parent,
            )
        )
    return changes


def requests_of(changes: list[DemoChange]) -> list[list[DemoChange]]:
    """Changes grouped into land requests, in stack order."""
    requests: list[list[DemoChange]] = []
    for change in changes:
        if (
            change.stacked_on is not None
            and requests
            and requests[-1][-1].number == change.stacked_on
        ):
            requests[-1].append(change)
        else:
            requests.append([change])
    return requests


class DemoRepository:
    """The bare repository changes land in, and a working clone to author them in."""

    def __init__(self, sandbox: GitSandbox, *, folders: int, prefix: str = "") -> None:
        self.sandbox = sandbox
        self.prefix = prefix
        if not sandbox.has_branch(sandbox.branch):
            seed = {"ci.sh": CI_SCRIPT, "README.md": "The `sq demo` sandbox.\n"}
            seed |= {f"folder-{f}/README.md": f"folder {f}\n" for f in range(1, folders + 1)}
            sandbox.seed(seed)

    @classmethod
    def create(cls, root: Path, *, folders: int) -> DemoRepository:
        """A new bare repository at `root/origin.git`, seeded."""
        return cls(GitSandbox(root), folders=folders)

    @classmethod
    def attach(cls, root: Path, origin: Path, *, branch: str, folders: int) -> DemoRepository:
        """An existing repository (a running server's queue): branches get a unique prefix."""
        prefix = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-"
        return cls(
            GitSandbox.cloning(origin, root / "work", branch=branch), folders=folders, prefix=prefix
        )

    @property
    def origin(self) -> Path:
        return self.sandbox.origin

    def branch_of(self, change: DemoChange) -> str:
        return self.prefix + change.branch

    def push(self, change: DemoChange) -> str:
        """Author the change in two commits on its branch, push it, return its head sha."""
        start = (
            self.prefix + f"change-{change.stacked_on}"
            if change.stacked_on
            else self.sandbox.branch
        )
        branch = self.branch_of(change)
        self.sandbox.checkout(branch, start)
        paths = change.paths()
        self.sandbox.commit(
            f"{change.folder}: add change {change.number}",
            {p: f"change {change.number}, file {i}\n" for i, p in enumerate(paths)},
        )
        verdict = "FAIL (this change is made to break the build)" if change.fails else "reviewed"
        head = self.sandbox.commit(
            f"{change.folder}: finish change {change.number}",
            {paths[0]: f"change {change.number}, file 0\n{verdict}\n"},
        )
        self.sandbox.push(branch)
        return head

    def git_uri(self, change: DemoChange, sha: str) -> str:
        return str(branch_head_uri(str(self.origin), f"refs/heads/{self.branch_of(change)}", sha))

    def target_log(self) -> list[str]:
        """`git log --oneline --first-parent` of the target, newest first."""
        out = self.sandbox.git(
            "log", "--oneline", "--first-parent", self.sandbox.branch, cwd=self.origin
        )
        return out.splitlines()

    def is_linear(self) -> bool:
        merges = self.sandbox.git("rev-list", "--merges", self.sandbox.branch, cwd=self.origin)
        return merges.strip() == ""


def fake_uri(change: DemoChange) -> str:
    """The fake provider's form of a change: its paths and, when made to fail, the marker."""
    query = "sq-files=" + ",".join(change.paths())
    if change.fails:
        query += "&sq-fake=build-fail"
    return str(FakeChangeURI(host="demo", name=change.branch, query=query))
