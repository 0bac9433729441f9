"""Pure rules for sharing partitions among the subscribers of one group (platform-spec §1.7)."""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping


def fair_share_cap(me: str, active: list[str], partitions: int) -> int:
    """How many partitions `me` may hold; 0 means no limit.

    Remainder-aware: with P partitions over N subscribers, the first P mod N (by sorted name) may
    hold one more, so the caps add up to exactly P and nobody starves. A subscriber that cannot see
    its own heartbeat assumes it is one more than the others see.
    """
    if len(active) <= 1:
        return 0
    ranked = sorted(active)
    if me not in ranked:
        return max(1, math.ceil(partitions / (len(ranked) + 1)))
    quotient, remainder = divmod(partitions, len(ranked))
    return max(1, quotient + (1 if ranked.index(me) < remainder else 0))


def surplus(owned: Iterable[str], cap: int) -> list[str]:
    """The partitions to release to get down to `cap`: the largest keys, deterministically."""
    ordered = sorted(owned)
    if cap <= 0 or len(ordered) <= cap:
        return []
    return ordered[cap:]


def busy(owned: Iterable[str], pending: Collection[str]) -> int:
    """How many owned partitions count against the cap: a drained one is given up as soon as a
    partition with work needs its place, so two subscribers at their caps with drained
    partitions never leave work unowned until the drained ones expire."""
    return sum(1 for key in owned if key in pending)


def track_drained(
    drained_since: Mapping[str, int],
    owned: Collection[str],
    discovered: Collection[str],
    now_ms: int,
) -> dict[str, int]:
    """When each owned partition with no pending work was first seen so; others are forgotten."""
    return {key: drained_since.get(key, now_ms) for key in owned if key not in discovered}


def expired(drained_since: Mapping[str, int], grace_ms: int, now_ms: int) -> list[str]:
    return sorted(key for key, since in drained_since.items() if now_ms - since >= grace_ms)
