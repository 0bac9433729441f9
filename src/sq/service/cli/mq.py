"""`sq mq`: look into the message queue and repair it (topics, partitions, dead letters, gates)."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from rich.console import Console
from rich.table import Table

from sq.platform import migrations
from sq.platform.consumer.gate import GateState, SqlGate
from sq.platform.db import DatabaseURLError, normalize_url
from sq.platform.messagequeue.model import DLQ_SUFFIX
from sq.platform.messagequeue.sql.admin import NotFoundError, QueueAdmin, message_dict
from sq.service.cli import cli
from sq.service.cli.common import EXIT_FAILED, fail
from sq.service.cli.options import config_options, queue_engine, settings_from


def _millis(ms: int) -> str:
    return "-" if not ms else datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _emit(rows: Any, as_json: bool, table: Table | None) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2, sort_keys=True))
    elif table is not None:
        Console(width=140).print(table)


class _Ctx:
    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir
        self._engine: sa.Engine | None = None

    @property
    def engine(self) -> sa.Engine:
        if self._engine is None:
            try:
                parsed = normalize_url(self.url)
            except DatabaseURLError as exc:
                fail(str(exc))
            if parsed.get_backend_name() == "sqlite":
                path = parsed.database or ""
                if path and path != ":memory:" and not Path(path).exists():
                    fail(f"no queue database at {path}")
            engine = queue_engine(self.url)
            schema = migrations.queue_schema()
            # An older queue is brought up to date; a database that holds no queue (a wrong
            # --db) is refused rather than given one.
            if not sa.inspect(engine).has_table(schema.version_table):
                engine.dispose()
                fail(f"no queue database at {parsed.render_as_string(hide_password=True)}")
            migrations.upgrade(engine, schema)
            self._engine = engine
        return self._engine

    @property
    def admin(self) -> QueueAdmin:
        return QueueAdmin(self.engine)


@cli.group("mq")
@config_options
@click.option("--db", "db_url", default=None, help="Queue database URL (default from the config).")
@click.pass_context
def mq(ctx: click.Context, config_path: Path, data_dir: Path | None, db_url: str | None) -> None:
    """Inspect and repair the message queue."""
    settings = settings_from(config_path, data_dir)
    ctx.obj = _Ctx(db_url or settings.queue_url(), settings.data_dir)


json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@mq.command("topics")
@json_option
@click.pass_obj
def topics(obj: _Ctx, as_json: bool) -> None:
    """Every topic with its partitions, messages and dead letters."""
    rows = obj.admin.topics()
    table = Table("topic", "partitions", "messages", "dead letters")
    for r in rows:
        table.add_row(r.topic, str(r.partitions), str(r.messages), str(r.dead_letters))
    _emit([asdict(r) for r in rows] if as_json else None, as_json, table)


@mq.command("partitions")
@click.argument("topic")
@json_option
@click.pass_obj
def partitions_(obj: _Ctx, topic: str, as_json: bool) -> None:
    """Partitions of TOPIC: lag, watermark and lease owner per consumer group."""
    rows = obj.admin.partitions(topic)
    table = Table(
        "partition",
        "last seq",
        "stored",
        "group",
        "watermark",
        "lag",
        "lease owner",
        "epoch",
        "renewed",
    )
    out = []
    for r in rows:
        out.append(
            {
                "partition_key": r.partition_key,
                "last_seq": r.last_seq,
                "messages": r.messages,
                "groups": [asdict(g) for g in r.groups],
            }
        )
        for i, g in enumerate([*r.groups] or [None]):
            head = (r.partition_key, str(r.last_seq), str(r.messages)) if i == 0 else ("", "", "")
            if g is None:
                table.add_row(*head, "-", "-", "-", "-", "-", "-")
            else:
                table.add_row(
                    *head,
                    g.consumer_group,
                    str(g.watermark),
                    str(g.lag),
                    g.lease_owner or "-",
                    str(g.lease_epoch),
                    _millis(g.lease_renewed_at_ms),
                )
    _emit(out, as_json, table)


@mq.command("show")
@click.argument("topic")
@click.argument("message_id")
@click.option("--partition", default=None)
@click.pass_obj
def show(obj: _Ctx, topic: str, message_id: str, partition: str | None) -> None:
    """One message in full, as JSON (dead letters include their failure)."""
    try:
        found = obj.admin.message(topic, message_id, partition)
    except NotFoundError as exc:
        fail(str(exc), EXIT_FAILED)
    click.echo(json.dumps(message_dict(found), indent=2, sort_keys=True))


@mq.group("dlq")
def dlq() -> None:
    """Dead letters: list, show, replay, purge."""


@dlq.command("list")
@click.argument("topic")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
@json_option
@click.pass_obj
def dlq_list(obj: _Ctx, topic: str, limit: int, as_json: bool) -> None:
    """Dead letters of TOPIC (the original topic's name)."""
    letters = obj.admin.messages(topic + DLQ_SUFFIX, limit=limit)
    table = Table("partition", "id", "group", "attempts", "failed at", "error")
    for m in letters:
        table.add_row(
            m.partition_key,
            m.message_id,
            m.failed_group,
            str(m.failure_count),
            _millis(m.failed_at_ms),
            m.last_error[:60],
        )
    _emit([message_dict(m) for m in letters], as_json, table)


@dlq.command("show")
@click.argument("topic")
@click.argument("message_id")
@click.pass_obj
def dlq_show(obj: _Ctx, topic: str, message_id: str) -> None:
    """One dead letter of TOPIC with its failure (MESSAGE_ID: the letter's or the original id)."""
    letters = [
        m
        for m in obj.admin.messages(topic + DLQ_SUFFIX, limit=1_000_000)
        if message_id in (m.message_id, message_dict(m)["dead_letter"]["original_id"])
    ]
    if not letters:
        fail(f"no dead letter {message_id!r} for topic {topic!r}", EXIT_FAILED)
    click.echo(json.dumps([message_dict(m) for m in letters], indent=2, sort_keys=True))


@dlq.command("replay")
@click.argument("topic")
@click.argument("message_id", required=False)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter of TOPIC.")
@click.pass_obj
def dlq_replay(obj: _Ctx, topic: str, message_id: str | None, replay_all: bool) -> None:
    """Publish dead letters to TOPIC again (under new ids) and remove them from the DLQ."""
    if bool(message_id) == replay_all:
        fail("name one MESSAGE_ID or pass --all")
    try:
        replayed = obj.admin.replay(topic, message_id, int(time.time() * 1000))
    except NotFoundError as exc:
        fail(str(exc), EXIT_FAILED)
    for new_id in replayed:
        click.echo(f"replayed as {new_id}")
    click.echo(f"{len(replayed)} dead letter(s) replayed to {topic}")


@dlq.command("purge")
@click.argument("topic")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def dlq_purge(obj: _Ctx, topic: str, yes: bool) -> None:
    """Delete every dead letter of TOPIC."""
    if not yes and not click.confirm(f"Delete every dead letter of {topic}?", default=False):
        fail("not confirmed", EXIT_FAILED)
    click.echo(f"{obj.admin.purge_dlq(topic)} dead letter(s) deleted")


@mq.group("gate")
def gate() -> None:
    """Stop and restart one stage's consumption at runtime, without stopping any process."""


@gate.command("stop")
@click.argument("consumer_group")
@click.option("--partition", default="", help="Stop one partition only.")
@click.option("--reason", default="", help="Why (shown by `gate list`).")
@click.pass_obj
def gate_stop(obj: _Ctx, consumer_group: str, partition: str, reason: str) -> None:
    SqlGate(obj.engine).close(
        GateState(
            consumer_group=consumer_group,
            partition_key=partition,
            reason=reason,
            created_by=click.get_current_context().find_root().info_name or "sq",
            created_at_ms=int(time.time() * 1000),
        )
    )
    click.echo(f"stopped {consumer_group}{'/' + partition if partition else ''}")


@gate.command("start")
@click.argument("consumer_group")
@click.option("--partition", default="")
@click.pass_obj
def gate_start(obj: _Ctx, consumer_group: str, partition: str) -> None:
    opened = SqlGate(obj.engine).open(consumer_group, partition)
    click.echo(
        f"started {consumer_group}{'/' + partition if partition else ''}"
        + ("" if opened else " (it was not stopped)")
    )


@gate.command("list")
@json_option
@click.pass_obj
def gate_list(obj: _Ctx, as_json: bool) -> None:
    sql_gate = SqlGate(obj.engine)
    gates = sql_gate.list_gates()
    parked = sql_gate.list_parked()
    table = Table("group", "partition", "reason", "since", "parked")
    for g in gates:
        waiting = sum(
            1
            for p in parked
            if p.consumer_group == g.consumer_group
            and (not g.partition_key or p.partition_key == g.partition_key)
        )
        table.add_row(
            g.consumer_group,
            g.partition_key or "(all)",
            g.reason,
            _millis(g.created_at_ms),
            str(waiting),
        )
    _emit(
        {"gates": [asdict(g) for g in gates], "parked": [asdict(p) for p in parked]},
        as_json,
        table,
    )


@mq.command("demo")
@click.option("--orders", "count", default=6, show_default=True, type=click.IntRange(1, 500))
@click.pass_obj
def demo(obj: _Ctx, count: int) -> None:
    """Run a two-stage pipeline over a durable SQLite queue and show each message's trail."""
    import asyncio

    from sq.platform.log import configure_logging
    from sq.service.demo.queue_trail import run_demo

    configure_logging("warning", "auto")
    console = Console(highlight=False, soft_wrap=True)
    started = time.monotonic()

    def trail(order: str, event: str) -> None:
        console.print(
            f"[dim]{time.monotonic() - started:6.2f}s[/dim]  [bold]{order:<9}[/bold] {event}"
        )

    db = obj.data_dir / "demo-queue.db"
    console.print(f"Queue: SQLite at {db}")
    deps = asyncio.run(run_demo(obj.data_dir, count, trail))
    console.print(
        f"\n{len(deps.shipped)} shipped, {len(deps.reconciled)} rejected via the DLQ. "
        f"Inspect with: sq mq --db {db} topics"
    )
