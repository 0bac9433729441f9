"""The `sq` command line: one click group, each area of commands in a module of its own.

The group is lazy: `sq --help` lists the commands from `commands.COMMANDS` without importing
them, and a command's module (with its SQLAlchemy, FastAPI, … imports) loads only when it runs.
"""

from __future__ import annotations

import importlib

import click

from sq.service.cli.commands import COMMANDS


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(COMMANDS) | set(self.commands))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            entry = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(entry.module), entry.attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{entry.module}.{entry.attr} is not a click command")
            self.commands.setdefault(cmd_name, command)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            loaded = self.commands.get(name)
            if loaded is not None:
                if loaded.hidden:
                    continue
                text = loaded.get_short_help_str(limit)
            else:
                text = click.Command(name, help=COMMANDS[name].short_help).get_short_help_str(limit)
            rows.append((name, text))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="submitqueue", prog_name="sq")
def cli() -> None:
    """SubmitQueue and Stovepipe: a speculative merge queue and a post-merge greenness tracker."""


def main() -> None:
    cli.main(standalone_mode=True)
