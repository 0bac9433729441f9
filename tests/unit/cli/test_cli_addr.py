"""Every client command checks `--addr` and the bearer token before calling anyone."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sq.service.cli import cli

COMMANDS = [["status", "demo/1"], ["list", "-q", "demo"], ["queue", "show", "demo"]]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(
    ("addr", "says"),
    [
        ("http://[::1", "is not a URL: Invalid IPv6 URL"),
        ("http://127.0.0.1:99999", "is not a URL: Port out of range"),
        ("http://", "must be an http(s) URL"),
        ("", "must be an http(s) URL"),
    ],
)
def test_a_malformed_address_is_one_line_of_bad_input(
    command: list[str], addr: str, says: str
) -> None:
    """Each was a traceback (exit 1) in `status`, `list`, `land`, `watch` and the rest, or a
    silent fall back to the default address for an empty one."""
    result = CliRunner().invoke(cli, [*command, "--addr", addr])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], lines


@pytest.mark.parametrize("command", COMMANDS)
def test_a_token_that_cannot_travel_in_a_header_is_refused(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQ_TOKEN", "é-token")
    result = CliRunner().invoke(cli, [*command, "--addr", "http://127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert result.output == "error: $SQ_TOKEN must be printable ASCII (a bearer token)\n"


@pytest.mark.parametrize("command", COMMANDS)
def test_host_and_port_alone_mean_http_in_every_client_command(command: list[str]) -> None:
    """`queue show` (and the other light groups) refused `127.0.0.1:8080`, which `status` and
    `list` take as `http://127.0.0.1:8080`; nothing listens on port 1, so each gets as far as
    trying to connect."""
    result = CliRunner().invoke(cli, [*command, "--addr", "127.0.0.1:1"])
    assert result.exit_code == 3, result.output
    assert "cannot reach" in result.output
