"""Options `sq demo` and `sq replay` share: how changes land, and where the sandbox goes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

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
