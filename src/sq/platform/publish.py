"""Message ids that name the occasion of a publish (platform-spec §1.2).

An id is a dedup key for as long as the message is stored, so it must say *why* the message is
sent: `intent_id("batch/7", "merged")` dedups a redelivered hand-off of the same cause but never
swallows a new cause about the same entity.
"""

from __future__ import annotations

import itertools
import time
from urllib.parse import quote

_sequence = itertools.count()


def _part(text: str) -> str:
    # Escape "/" inside each part so that ("a/b", "c") and ("a", "b/c") never collide.
    return quote(text, safe="")


def intent_id(entity: str, *causes: str) -> str:
    return "/".join(_part(p) for p in (entity, *causes))


def unique_id(base: str) -> str:
    """Never deduplicates: consumers must absorb duplicates themselves."""
    return f"{_part(base)}@{time.time_ns()}-{next(_sequence)}"
