"""Rich views of requests: summaries, histories and the watch table (submitqueue-spec §8.2)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.table import Table
from rich.text import Text

from sq.platform.changeuri import short_name
from sq.submitqueue.client.trail import Trail

_STYLE = {"landed": "green", "error": "red", "cancelled": "yellow", "cancelling": "yellow"}


def when(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def status_text(status: str) -> Text:
    return Text(status, style=_STYLE.get(status, "cyan"))


def summaries_table(rows: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("REQUEST", "STATUS", "RECEIVED", "CHANGES", "ERROR"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(
            row["id"],
            status_text(row["status"]),
            when(row["received_at_ms"]),
            "\n".join(row["change_uris"]),
            row.get("last_error") or "",
        )
    return table


def history_table(events: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("TIME", "TYPE", "VALUE", "ERROR", "DETAIL"):
        table.add_column(column, overflow="fold")
    for event in events:
        value = event.get("status") or event.get("event") or ""
        metadata = dict(event.get("metadata") or {})
        tail = metadata.pop("log_tail", "")
        detail = Text(" ".join(f"{k}={v}" for k, v in sorted(metadata.items())))
        if tail:
            detail.append("\nlog (last lines):\n", style="bold")
            detail.append(tail, style="dim")
        styled = status_text(value) if event["type"] == "status" else Text(value, style="dim")
        table.add_row(
            when(event["timestamp_ms"]), event["type"], styled, event["last_error"], detail
        )
    return table


@dataclass(frozen=True, slots=True, kw_only=True)
class WatchRow:
    id: str
    changes: tuple[str, ...]
    received_at_ms: int | None
    settled_at_ms: int | None
    trail: Trail


def elapsed(row: WatchRow, now_ms: int) -> str:
    if row.received_at_ms is None:
        return "—"
    end = row.settled_at_ms if row.settled_at_ms is not None else now_ms
    return f"{max(0, end - row.received_at_ms) // 1000}s"


def watch_table(rows: Sequence[WatchRow], now_ms: int) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False, expand=False)
    table.add_column("REQUEST", no_wrap=True)
    table.add_column("CHANGES", overflow="fold", max_width=48)
    table.add_column("ELAPSED", justify="right", no_wrap=True)
    table.add_column("STAGE", overflow="fold")
    for row in rows:
        stage = Text(row.trail.stages, style=_STYLE.get(row.trail.status, ""))
        if row.trail.note:
            stage.append(f"\n{row.trail.note}", style="dim")
        changes = "\n".join(short_name(uri) for uri in row.changes)
        table.add_row(row.id, changes, elapsed(row, now_ms), stage)
    return table


def status_line(rows: Sequence[WatchRow]) -> str:
    settled = sum(1 for r in rows if r.trail.settled)
    if settled < len(rows):
        return f"{settled} of {len(rows)} settled"
    return verdict(rows)[1]


def verdict(rows: Sequence[WatchRow]) -> tuple[bool, str]:
    """Whether every request landed, and the line that says so."""
    failed = sorted((r for r in rows if r.trail.status != "landed"), key=lambda r: r.id)
    if not failed:
        return True, f"all {len(rows)} request(s) landed"
    details = "; ".join(
        f"{r.id}={r.trail.status or 'unknown'}" + (f": {r.trail.note}" if r.trail.note else "")
        for r in failed
    )
    return False, f"{len(failed)} of {len(rows)} request(s) did not land — {details}"
