"""A merger that lands nothing and reports success: for queues without a real target."""

from __future__ import annotations

import itertools

from sq.runway.extension.merger import ChangeResult, MergeInput, MergeOutcome, MergeResult


class NoopMerger:
    """Always succeeds without touching anything.

    A landing reports one synthetic 40-hex commit per change; a change it has "landed" before
    (same queue, same URI) is reported as already merged, so it keeps the Merger contract's
    idempotency within one process. Safe for concurrent use.
    """

    def __init__(self) -> None:
        self._counter = itertools.count(1)
        self._landed: set[tuple[str, str]] = set()

    async def merge(self, request: MergeInput) -> MergeResult:
        if not request.changes:
            return MergeResult(outcome=MergeOutcome.INVALID, reason="no changes to merge")
        keys = [(request.queue, change.uri) for change in request.changes]
        if all(key in self._landed for key in keys):
            return MergeResult(
                outcome=MergeOutcome.ALREADY_MERGED,
                reason="every change was already merged",
                changes=tuple(ChangeResult(uri=c.uri) for c in request.changes),
            )
        if request.dry_run:
            return MergeResult(
                outcome=MergeOutcome.MERGEABLE,
                reason="noop: nothing checked",
                changes=tuple(ChangeResult(uri=c.uri) for c in request.changes),
            )
        results = []
        for change, key in zip(request.changes, keys, strict=True):
            landed = () if key in self._landed else (f"{next(self._counter):040x}",)
            self._landed.add(key)
            results.append(ChangeResult(uri=change.uri, landed=landed))
        return MergeResult(
            outcome=MergeOutcome.MERGED,
            reason=f"noop: pretended to land {len(results)} change(s)",
            changes=tuple(results),
        )
