"""`sq serve` with a database it cannot open answers one line, not a 145-line traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from sq.service.cli import cli


def test_an_unreachable_database_is_one_line_and_exit_3(tmp_path: Path) -> None:
    config = tmp_path / "sq.yaml"
    config.write_text("mq:\n  url: postgresql://nobody@127.0.0.1:1/nodb\n")
    result = CliRunner().invoke(cli, ["serve", "--config", str(config), "--port", "0"])
    assert result.exit_code == 3, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: cannot open a database: connection failed")
    assert "port 1 failed" in lines[0]


def test_a_data_directory_that_is_a_file_is_one_line_of_bad_input(tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("")
    args = ["serve", "--data-dir", str(tmp_path / "afile"), "--port", "0"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: cannot start: ")
    assert "File exists" in result.output and result.output.count("\n") == 1
