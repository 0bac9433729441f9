"""The `--quick` flag every benchmark takes: a smoke run of a few seconds to a minute, so that
`make bench QUICK=1` runs the whole set in minutes. Options given explicitly still win."""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence


def parse_with_quick(
    parser: argparse.ArgumentParser,
    quick: Mapping[str, object],
    argv: Sequence[str] | None = None,
    *,
    what: str = "",
) -> argparse.Namespace:
    """Parse `argv` with a `--quick` flag that changes the defaults to `quick` (`what` says what
    else it changes)."""
    changes = [f"--{k.replace('_', '-')} {v}" for k, v in quick.items()] + ([what] if what else [])
    parser.add_argument("--quick", action="store_true", help=f"smoke run ({', '.join(changes)})")
    args = parser.parse_args(argv)
    if args.quick:
        parser.set_defaults(**quick)
        args = parser.parse_args(argv)
    return args
