"""`sq --help` and the client commands start without the server's heavy imports; the static
command table agrees with the commands it points at."""

from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from sq.service.cli import cli
from sq.service.cli.commands import COMMANDS

HEAVY = ("sqlalchemy", "fastapi", "alembic", "uvicorn", "pydantic_settings", "psycopg")

PROBE = """
import json, sys
import click
from sq.service.cli import cli
ctx = click.Context(cli, info_name="sq")
cli.get_help(ctx)
names = cli.list_commands(ctx)
for name in sys.argv[1:]:
    cli.get_command(ctx, name).get_help(click.Context(cli.get_command(ctx, name), parent=ctx))
print(json.dumps({"names": names, "loaded": sorted({m.split(".")[0] for m in sys.modules})}))
"""


def probe(*commands: str) -> dict[str, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *commands],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    result: dict[str, list[str]] = json.loads(done.stdout)
    return result


def test_the_top_level_help_lists_every_command_without_importing_heavy_modules() -> None:
    result = probe()
    assert result["names"] == sorted(COMMANDS)
    assert not set(HEAVY) & set(result["loaded"])


@pytest.mark.parametrize("command", ["land", "status", "watch", "cancel", "history", "list"])
def test_client_commands_import_no_server_modules(command: str) -> None:
    result = probe(command)
    assert not {*HEAVY, "pydantic"} & set(result["loaded"])
    assert {"httpx2", "rich", "click"} <= set(result["loaded"])


def test_a_server_command_still_loads_what_it_needs() -> None:
    assert "sqlalchemy" in probe("mq")["loaded"]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_table_entry_names_its_command_with_the_same_short_help(name: str) -> None:
    ctx = click.Context(cli, info_name="sq")
    command = cli.get_command(ctx, name)
    assert isinstance(command, click.Command)
    assert command.name == name
    assert command.get_short_help_str(limit=1000) == COMMANDS[name].short_help


def test_help_output_shows_the_table_and_unknown_commands_fail() -> None:
    runner = CliRunner()
    shown = runner.invoke(cli, ["--help"])
    assert shown.exit_code == 0
    listed = shown.output.split("Commands:")[1]
    assert [line.split()[0] for line in listed.strip().splitlines()] == sorted(COMMANDS)
    unknown = runner.invoke(cli, ["nosuch"])
    assert unknown.exit_code == 2
    assert "No such command 'nosuch'" in unknown.output
