"""What a strategy did during a run: builds it started, landings and rejections, in order.

Strategies only append here; `metrics` reads the ledger afterwards to score and verify it, so a
strategy cannot grade itself.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, kw_only=True)
class BuildRecord:
    """One CI build: it tests `included` (change indexes) on top of the first `master_landings`
    landings. `passed` is None while running and when cancelled."""

    id: int
    included: tuple[int, ...]
    master_landings: int
    start_ms: int
    end_ms: int | None = None
    passed: bool | None = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Landing:
    """`changes` reached the target branch together at `time_ms`, justified by `build_id`."""

    seq: int
    time_ms: int
    changes: tuple[int, ...]
    build_id: int


class Ledger:
    def __init__(self) -> None:
        self.builds: list[BuildRecord] = []
        self.landings: list[Landing] = []
        self.landed_at: dict[int, int] = {}
        self.rejected_at: dict[int, int] = {}
        self.dependencies: dict[int, int] = {}
        """How many unresolved items ahead each change was found to conflict with when it joined
        (a strategy's dependency analysis; the first analysis counts, not a split part's)."""

    def start_build(self, included: tuple[int, ...], now_ms: int) -> BuildRecord:
        record = BuildRecord(
            id=len(self.builds),
            included=included,
            master_landings=len(self.landings),
            start_ms=now_ms,
        )
        self.builds.append(record)
        return record

    def finish_build(self, build_id: int, passed: bool, now_ms: int) -> None:
        record = self.builds[build_id]
        if record.end_ms is not None:
            raise ValueError(f"build {build_id} already finished")
        record.end_ms, record.passed = now_ms, passed

    def cancel_build(self, build_id: int, now_ms: int) -> None:
        record = self.builds[build_id]
        if record.end_ms is not None:
            raise ValueError(f"build {build_id} already finished")
        record.end_ms, record.cancelled = now_ms, True

    def land(self, changes: tuple[int, ...], build_id: int, now_ms: int) -> None:
        self.landings.append(
            Landing(seq=len(self.landings), time_ms=now_ms, changes=changes, build_id=build_id)
        )
        for change in changes:
            self.landed_at.setdefault(change, now_ms)

    def note_dependencies(self, changes: tuple[int, ...], count: int) -> None:
        for change in changes:
            self.dependencies.setdefault(change, count)

    def reject(self, change: int, now_ms: int) -> None:
        self.rejected_at.setdefault(change, now_ms)
