"""The `sq` command line: one click group, each area of commands in a module of its own."""

from __future__ import annotations

import click

from sq.service.cli.common import EXIT_BAD_INPUT


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="submitqueue", prog_name="sq")
def cli() -> None:
    """SubmitQueue and Stovepipe: a speculative merge queue and a post-merge greenness tracker."""


def _register() -> None:
    from sq.service.cli import commands  # noqa: F401  (imports register the subcommands)


def main() -> None:
    _register()
    try:
        cli.main(standalone_mode=True)
    except click.exceptions.Exit as exc:  # pragma: no cover - click handles this itself
        raise SystemExit(exc.exit_code) from exc
    except click.UsageError as exc:  # pragma: no cover
        exc.show()
        raise SystemExit(EXIT_BAD_INPUT) from exc
