"""The noop merger plus failures on demand, driven by `sq-fake=` markers (submitqueue-spec §8.5)."""

from __future__ import annotations

from sq.platform.changeuri import first_fake_marker
from sq.runway.extension.merger import MergeInput, MergeOutcome, MergerError, MergeResult
from sq.runway.extension.merger.noop import NoopMerger

_TERMINAL = {
    "merge-conflict": MergeOutcome.CONFLICT,
    "merge-invalid": MergeOutcome.INVALID,
}


class FakeMerger:
    """Behaves like `NoopMerger` unless the first marker found across the changes is
    `merge-conflict` (→ CONFLICT), `merge-invalid` (→ INVALID) or `merge-error` (raises
    MergerError, as an unreachable remote would). Other markers are ignored."""

    def __init__(self) -> None:
        self._noop = NoopMerger()

    async def merge(self, request: MergeInput) -> MergeResult:
        uris = [change.uri for change in request.changes]
        marker = first_fake_marker(uris)
        if marker == "merge-error":
            raise MergerError(f"fake merger: injected error for {request.id}")
        outcome = _TERMINAL.get(marker or "")
        if outcome is not None:
            failed = next(u for u in uris if first_fake_marker([u]) == marker)
            return MergeResult(
                outcome=outcome, reason=f"fake merger: {marker} marker", failed_change=failed
            )
        return await self._noop.merge(request)
