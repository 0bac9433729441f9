"""Exit codes and helpers shared by every `sq` command."""

from __future__ import annotations

from typing import NoReturn

import click

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


def fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    """Print one line to stderr and exit with `code` (2, bad input, unless told otherwise)."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)
