"""A request's trail from its history, as `sq watch` shows it (submitqueue-spec §8.2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

TIMES = "\N{MULTIPLICATION SIGN}"
TERMINAL = frozenset({"landed", "error", "cancelled"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Trail:
    stages: str
    status: str
    note: str

    @property
    def settled(self) -> bool:
        return self.status in TERMINAL


def trail_of(events: Sequence[Mapping[str, Any]]) -> Trail:
    """Statuses joined by arrows (repeats collapsed); events since a status in brackets after it,
    with counts; events after a terminal status prefixed `after:`."""
    parts: list[tuple[str, dict[str, int]]] = []
    status, note = "", ""
    for event in events:
        if event.get("type") == "event":
            name = str(event.get("event") or "")
            if not parts:
                parts.append(("…", {}))
            counts = parts[-1][1]
            key = f"after: {name}" if parts[-1][0] in TERMINAL else name
            counts[key] = counts.get(key, 0) + 1
            note = str(event.get("last_error") or note)
            continue
        status = str(event.get("status") or "")
        if event.get("last_error"):
            note = str(event["last_error"])
        if not parts or parts[-1][0] != status:
            parts.append((status, {}))
    rendered = []
    for name, counts in parts:
        if counts:
            inner = ", ".join(k if n == 1 else f"{k} {TIMES}{n}" for k, n in counts.items())
            rendered.append(f"{name} [{inner}]")
        else:
            rendered.append(name)
    return Trail(stages=" → ".join(rendered) or "…", status=status, note=note)
