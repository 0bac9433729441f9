from __future__ import annotations

import math

from sq.platform.summary import Align, markdown_table, percentile


def test_percentile_is_nearest_rank_and_nan_for_nothing() -> None:
    values = [5.0, 1.0, 4.0, 2.0, 3.0]
    assert percentile(values, 0.5) == 3.0
    assert percentile(values, 0.95) == 5.0
    assert percentile(values, 0.2) == 1.0
    assert percentile(values, 0.21) == 2.0
    assert percentile([7.0], 0.01) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_a_padded_table_lines_its_columns_up() -> None:
    table = markdown_table(
        ("name", "n", "ok"), [("a", "1", "y"), ("long", "22", "n")], [Align.LEFT, Align.RIGHT]
    )
    assert table.splitlines() == [
        "| name |  n | ok |",
        "|------|---:|----|",
        "| a    |  1 | y  |",
        "| long | 22 | n  |",
    ]


def test_an_unpadded_table_keeps_its_cells_as_they_are() -> None:
    table = markdown_table(
        ("name", "n", "ok"),
        [("long", "22", "yes")],
        [Align.LEFT, Align.RIGHT, Align.CENTER],
        pad=False,
    )
    assert table.splitlines() == ["| name | n | ok |", "|---|--:|:-:|", "| long | 22 | yes |"]
