"""What `sq demo` and `sq replay` share: how changes land, where the sandbox goes, and a
console that stamps each line with the seconds since the command began."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console

from sq.submitqueue.core.messages import LandStrategy

F = TypeVar("F", bound=Callable[..., Any])


def strategy_option(fn: F) -> F:
    """`--strategy`: how a landing puts a change on the target (squash-rebase by default)."""
    return click.option(
        "--strategy",
        type=click.Choice([s.value for s in LandStrategy]),
        default=LandStrategy.SQUASH_REBASE.value,
        show_default=True,
    )(fn)


def sandbox_option(default: str) -> Callable[[F], F]:
    """`--sandbox DIR`: where a demo or replay makes its repository (`default` says where)."""
    return click.option(
        "--sandbox",
        type=click.Path(path_type=Path, file_okay=False),
        default=None,
        help=f"Where to create the sandbox repository (default: {default}; a new or empty "
        "directory).",
    )


def timed_console() -> tuple[Console, Callable[[str], None]]:
    """A console, and a `say` that prints a line after the seconds elapsed since this call."""
    console = Console(highlight=False, soft_wrap=True)
    started = time.monotonic()

    def say(line: str) -> None:
        console.print(f"[dim]{time.monotonic() - started:7.2f}s[/dim]  {line}")

    return console, say
