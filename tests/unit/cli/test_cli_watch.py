"""`sq watch` refuses an interval it could never sleep through, before calling anyone."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sq.service.cli import cli


@pytest.mark.parametrize("interval", ["nan", "inf", "1e308"])
def test_an_interval_that_is_not_a_sane_number_of_seconds_is_refused(interval: str) -> None:
    """NaN and infinity passed the `>= 0.05` check, and the watch then never finished."""
    args = ["watch", "demo/1", "--interval", interval, "--addr", "http://127.0.0.1:1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert result.output == "error: --interval must be a number of seconds from 0.05 to 3600\n"
