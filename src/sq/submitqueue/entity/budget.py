"""Build budget accounting: how many builds a queue may hold at once (speculation-spec §2.4, §5)."""

from __future__ import annotations

from collections.abc import Iterable

from sq.submitqueue.entity.pathset import BUDGET_PATH_STATUSES, PathEntry, PathSet

DEFAULT_BUILD_BUDGET = 4


def resolve_budget(configured: int | None) -> int:
    """The budget a queue runs with: absent or 0 means the default; negative is a ValueError."""
    if configured is None or configured == 0:
        return DEFAULT_BUILD_BUDGET
    if configured < 0:
        raise ValueError(f"build budget must not be negative, got {configured}")
    return configured


def holds_slot(entry: PathEntry) -> bool:
    """Pending, building and cancelling paths hold a slot until their build is seen stopped."""
    return entry.status in BUDGET_PATH_STATUSES


def slots_in_use(path_sets: Iterable[PathSet]) -> int:
    """Slots held across the whole queue, counting every head (merging and cancelling ones too)."""
    return sum(1 for s in path_sets for e in s.paths if holds_slot(e))


def free_slots(budget: int, path_sets: Iterable[PathSet]) -> int:
    """Slots left for new builds; never negative, even when the budget was lowered under load."""
    return max(0, budget - slots_in_use(path_sets))
