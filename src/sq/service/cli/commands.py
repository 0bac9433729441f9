"""Where each `sq` command lives, and its one-line help, so that `sq --help` imports none of them.

A command's module is imported only when that command runs (or its own `--help` is asked for).
`tests/unit/cli` checks that every entry names a real command with this short help.
"""

from __future__ import annotations

from typing import NamedTuple


class Entry(NamedTuple):
    module: str
    attr: str
    short_help: str


_CLIENT = "sq.service.cli.client"

COMMANDS: dict[str, Entry] = {
    "cancel": Entry(
        _CLIENT,
        "cancel",
        "Ask for REQUEST_ID to be cancelled (it may still land if it is already landing).",
    ),
    "demo": Entry(
        "sq.service.cli.demo",
        "demo",
        "Push COUNT change branches to a fresh git sandbox, land each one, and watch them settle.",
    ),
    "replay": Entry(
        "sq.service.cli.replay",
        "replay",
        "Land REPOSITORY's last commits again through the queue, and count the builds.",
    ),
    "history": Entry(
        _CLIENT,
        "history",
        "Every status change and event of REQUEST_ID (or of each request for --change).",
    ),
    "hooks": Entry(
        "sq.service.cli.hooks", "hooks", "Hook events: list the undeliverable ones and replay them."
    ),
    "land": Entry(
        _CLIENT,
        "land",
        "Queue change URIS (then --branch heads), in stack order, to land on QUEUE.",
    ),
    "list": Entry(_CLIENT, "list_requests", "Requests of QUEUE, newest first."),
    "mq": Entry("sq.service.cli.mq", "mq", "Inspect and repair the message queue."),
    "queue": Entry(
        "sq.service.cli.queue", "queue", "Pause, resume or drain a queue, or show its mode."
    ),
    "serve": Entry(
        "sq.service.cli.serve",
        "serve",
        "Run NAMES (gateway, orchestrator, runway, stovepipe; default: all) in this process.",
    ),
    "sim": Entry(
        "sq.service.cli.sim",
        "sim",
        "Simulate queue strategies on synthetic workloads in virtual time.",
    ),
    "speculate": Entry("sq.service.cli.speculate", "speculate", "Inspect the speculation engine."),
    "status": Entry(
        _CLIENT,
        "status",
        "The status of REQUEST_ID, or of every request for --change.",
    ),
    "stovepipe": Entry(
        "sq.service.cli.stovepipe",
        "stovepipe",
        "Post-merge greenness: ingest heads, ask where a queue is green.",
    ),
    "watch": Entry(
        _CLIENT,
        "watch",
        "Follow REQUEST_IDS (or --queue's recent requests) until all settle; exit 1 if any did "
        "not land.",
    ),
}
