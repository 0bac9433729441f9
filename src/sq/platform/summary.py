"""Measurements summarised for people: nearest-rank percentiles and markdown tables (used by the
simulator's report and by the benchmarks)."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, `q` in (0, 1] (0.95 for P95); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


class Align(enum.StrEnum):
    LEFT = "left"
    RIGHT = "right"
    CENTER = "center"


def _rule(width: int, how: Align) -> str:
    """The delimiter cell of a column `width` wide (at least three characters)."""
    dashes = "-" * max(1, width + 2 - {Align.LEFT: 0, Align.RIGHT: 1, Align.CENTER: 2}[how])
    return {Align.LEFT: dashes, Align.RIGHT: dashes + ":", Align.CENTER: f":{dashes}:"}[how]


def markdown_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    align: Sequence[Align] = (),
    *,
    pad: bool = True,
) -> str:
    """A markdown table; `align` per column (left when missing); `pad` lines the columns up for a
    terminal (each cell padded to its column's widest)."""
    columns = len(header)
    aligns = [*align, *[Align.LEFT] * (columns - len(align))][:columns]
    widths = [max(len(r[i]) for r in [header, *rows]) if pad else 1 for i in range(columns)]

    def line(cells: Sequence[str]) -> str:
        shaped = (
            cell.rjust(width) if how is Align.RIGHT else cell.ljust(width)
            for cell, width, how in zip(cells, widths, aligns, strict=True)
        )
        return "| " + " | ".join(shaped) + " |"

    rule = "|" + "|".join(_rule(w, how) for w, how in zip(widths, aligns, strict=True)) + "|"
    return "\n".join([line(header), rule, *(line(r) for r in rows)])
