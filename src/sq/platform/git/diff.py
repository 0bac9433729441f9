"""What a commit range touches: changed paths and their sizes, from `git diff --numstat -z`."""

from __future__ import annotations

from dataclasses import dataclass

from sq.platform.git.repo import GitRepo


@dataclass(frozen=True, slots=True, kw_only=True)
class PathChange:
    path: str
    """The path after the change (a deleted file keeps its old path)."""
    old_path: str | None = None
    """Set for renames and copies: the path before."""
    added: int = 0
    deleted: int = 0
    binary: bool = False
    """Binary files are listed with zero line counts."""

    @property
    def lines(self) -> int:
        return self.added + self.deleted


@dataclass(frozen=True, slots=True, kw_only=True)
class DiffStat:
    files: tuple[PathChange, ...]

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(f.path for f in self.files)

    @property
    def lines_changed(self) -> int:
        return sum(f.lines for f in self.files)


async def changed_paths(repo: GitRepo, base: str | None, head: str) -> DiffStat:
    """Paths that differ between `base` and `head` (renames detected), with line counts.

    `base=None` compares against the empty tree (everything `head` contains is added). The result
    describes the two trees, not the commits in between, so a stacked change's size is its own when
    `base` is the previous change's head.
    """
    if base is None:
        base = (await repo.run("hash-object", "-t", "tree", "--stdin", stdin=b"")).text.strip()
    out = await repo.run("diff", "--numstat", "-z", "-M", "--no-color", base, head, "--")
    return DiffStat(files=tuple(parse_numstat_z(out.text)))


def parse_numstat_z(text: str) -> list[PathChange]:
    """Parse `--numstat -z` output: `added TAB deleted TAB path NUL`, or, for a rename,
    `added TAB deleted TAB NUL old NUL new NUL`; `-` counts mean binary."""
    fields = text.split("\0")
    changes: list[PathChange] = []
    i = 0
    while i < len(fields):
        record = fields[i]
        i += 1
        if not record:
            continue
        added, deleted, path = record.split("\t", 2)
        old_path: str | None = None
        if not path:
            old_path, path = fields[i], fields[i + 1]
            i += 2
        binary = added == "-"
        changes.append(
            PathChange(
                path=path,
                old_path=old_path,
                added=0 if binary else int(added),
                deleted=0 if binary else int(deleted),
                binary=binary,
            )
        )
    return changes
