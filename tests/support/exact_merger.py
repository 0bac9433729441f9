"""A merger that lands only exact built trees, for scenario tests on the fake stack.

The target is a count of landings (`t0`, `t1`, …). A build records the target it was made on
(`target_head`) and the queue's changes it applied on top (`assumed`); a landing succeeds only if
the target is that base with exactly those changes landed since, as the git merger's base check
does, else it answers OUTDATED and the queue builds the change again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sq.runway.extension.merger import ChangeResult, MergeInput, MergeOutcome, MergeResult


@dataclass(frozen=True, slots=True)
class Landing:
    base: str
    assumed: tuple[str, ...]
    changes: tuple[str, ...]


@dataclass
class ExactMerger:
    history: list[str] = field(default_factory=list)
    """Every change URI landed, in order."""
    landings: list[Landing] = field(default_factory=list)
    outdated: int = 0

    async def target_head(self) -> str:
        return f"t{len(self.history)}"

    async def merge(self, request: MergeInput) -> MergeResult:
        changes = tuple(c.uri for c in request.changes)
        if request.dry_run:
            return MergeResult(outcome=MergeOutcome.MERGEABLE, reason="exact: dry run")
        if not request.base:
            return MergeResult(outcome=MergeOutcome.INVALID, reason="exact: a landing needs a base")
        since = tuple(self.history[int(request.base[1:]) :])
        assumed = tuple(c.uri for c in request.assumed)
        if since != assumed:
            self.outdated += 1
            return MergeResult(
                outcome=MergeOutcome.OUTDATED, reason=f"exact: {since} landed, built on {assumed}"
            )
        self.history.extend(changes)
        self.landings.append(Landing(base=request.base, assumed=assumed, changes=changes))
        return MergeResult(
            outcome=MergeOutcome.MERGED,
            reason="exact: landed",
            changes=tuple(
                ChangeResult(uri=u, landed=(f"{len(self.history):040x}",)) for u in changes
            ),
            target_sha=f"t{len(self.history)}",
        )
