"""`sq watch`: follow requests until they settle (submitqueue-spec §8.2).

On a terminal the view is full-screen and scrolls like `top` (↑↓ j k, PgUp PgDn space, g G, q);
elsewhere a new block is printed only when something other than the elapsed times changed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from rich.console import Console, Group
from rich.text import Text

from sq.submitqueue.client.http import ClientError, GatewayClient
from sq.submitqueue.client.render import WatchRow, status_line, watch_table
from sq.submitqueue.client.trail import trail_of

MISSING_GRACE_MS = 30_000
"""How long a request the gateway does not know may stay `…` (just landed, its log not yet read)
before the watch gives up on it."""


class Watch:
    def __init__(
        self,
        client: GatewayClient,
        ids: Sequence[str],
        *,
        missing_grace_ms: int = MISSING_GRACE_MS,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.client = client
        self._now_ms = now_ms or _now_ms
        self._give_up_at = self._now_ms() + missing_grace_ms
        self._missing: set[str] = set()
        self.rows = {
            sqid: WatchRow(
                id=sqid, changes=(), received_at_ms=None, settled_at_ms=None, trail=trail_of([])
            )
            for sqid in ids
        }

    @property
    def settled(self) -> bool:
        return all(r.trail.settled for r in self.rows.values())

    async def refresh(self) -> None:
        """Fetch every unsettled request's history (a missing one stays `…` until it appears)."""
        pending = [r for r in self.rows.values() if not r.trail.settled]
        found = await asyncio.gather(*(self._fetch(r) for r in pending))
        for row in found:
            self.rows[row.id] = row
        if self._missing and self._now_ms() >= self._give_up_at:
            names = ", ".join(sorted(self._missing))
            raise ClientError(f"no request {names}: the gateway does not know it", 1, "not_found")

    async def _fetch(self, row: WatchRow) -> WatchRow:
        try:
            events = (await self.client.history(row.id))["events"]
            if not row.changes:
                summary = await self.client.status(row.id)
                row = WatchRow(
                    id=row.id,
                    changes=tuple(summary["change_uris"]),
                    received_at_ms=summary["received_at_ms"],
                    settled_at_ms=None,
                    trail=row.trail,
                )
        except ClientError as exc:
            if exc.code != "not_found":
                raise
            if not row.changes:
                self._missing.add(row.id)
            return row
        self._missing.discard(row.id)
        trail = trail_of(events)
        settled_at = next(
            (e["timestamp_ms"] for e in reversed(events) if e.get("status") == trail.status), None
        )
        return WatchRow(
            id=row.id,
            changes=row.changes,
            received_at_ms=row.received_at_ms,
            settled_at_ms=settled_at if trail.settled else None,
            trail=trail,
        )

    def view(self, now_ms: int) -> Group:
        rows = list(self.rows.values())
        return Group(watch_table(rows, now_ms), Text(status_line(rows), style="bold"))

    def fingerprint(self) -> tuple[object, ...]:
        return tuple((r.id, r.changes, r.trail) for r in self.rows.values())


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


async def follow_plain(
    watch: Watch,
    console: Console,
    *,
    interval: float = 2.0,
    sleep: Callable[[float], object] = asyncio.sleep,
    now_ms: Callable[[], int] = _now_ms,
) -> None:
    """Print a block whenever the content (not the elapsed times) changed, until all settle."""
    shown: tuple[object, ...] | None = None
    while True:
        await watch.refresh()
        if watch.fingerprint() != shown:
            shown = watch.fingerprint()
            console.print(watch.view(now_ms()))
            console.print()
        if watch.settled:
            return
        await sleep(interval)  # type: ignore[misc]
