"""`sq mq demo` as a user runs it, then `sq mq` against what it left behind."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def sq(*args: str, cwd: Path, input_text: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sq", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        input=input_text,
        check=False,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("demo")
    result = sq("mq", "demo", "--orders", "6", cwd=where)
    assert result.returncode == 0, result.stderr
    assert "5 shipped, 1 rejected via the DLQ" in result.stdout
    for event in ("held for 1s", "accept (attempt 2)", "dead-lettered, reconciled as rejected"):
        assert event in result.stdout
    return where


def mq(demo_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return sq("mq", "--db", str(demo_dir / ".sq" / "demo-queue.db"), *args, cwd=demo_dir)


def test_topics_and_partitions_show_what_the_demo_did(demo_dir: Path) -> None:
    topics = json.loads(mq(demo_dir, "topics", "--json").stdout)
    by_name = {t["topic"]: t for t in topics}
    assert by_name["demo-accept"]["dead_letters"] == 1
    assert by_name["demo-accept"]["partitions"] == 3
    parts = json.loads(mq(demo_dir, "partitions", "demo-accept", "--json").stdout)
    groups = {(p["partition_key"], g["consumer_group"]): g for p in parts for g in p["groups"]}
    assert all(g["lag"] == 0 for g in groups.values())
    assert groups[("customer-0", "demo-accept")]["watermark"] == 2


def test_a_dead_letter_can_be_shown_and_replayed(demo_dir: Path) -> None:
    letters = json.loads(mq(demo_dir, "dlq", "list", "demo-accept", "--json").stdout)
    assert [m["dead_letter"]["original_id"] for m in letters] == ["order-4"]
    assert letters[0]["dead_letter"]["last_error"] == "order order-4 has no items"
    shown = json.loads(mq(demo_dir, "dlq", "show", "demo-accept", "order-4").stdout)
    assert shown[0]["payload"] == {"id": "order-4"}
    replay = mq(demo_dir, "dlq", "replay", "demo-accept", "order-4")
    assert replay.returncode == 0, replay.stderr
    assert "replayed as order-4/replay/1" in replay.stdout
    assert json.loads(mq(demo_dir, "dlq", "list", "demo-accept", "--json").stdout) == []
    again = json.loads(mq(demo_dir, "show", "demo-accept", "order-4/replay/1").stdout)
    assert again["metadata"]["replayed_from"] == "demo-accept_dlq/customer-0/1"


def test_gates_stop_and_start_a_stage(demo_dir: Path) -> None:
    assert mq(demo_dir, "gate", "stop", "demo-ship", "--reason", "maintenance").returncode == 0
    listed = json.loads(mq(demo_dir, "gate", "list", "--json").stdout)
    assert [(g["consumer_group"], g["reason"]) for g in listed["gates"]] == [
        ("demo-ship", "maintenance")
    ]
    assert mq(demo_dir, "gate", "start", "demo-ship").returncode == 0
    assert json.loads(mq(demo_dir, "gate", "list", "--json").stdout)["gates"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--db", "mysql://nope/x", "topics"), "unsupported database 'mysql'"),
        (("--db", "not a url://", "topics"), "not a database URL"),
        (("--db", "/definitely/missing/queue.db", "topics"), "no queue database at"),
        (("--db", "postgresql://nobody@127.0.0.1:1/x", "topics"), "cannot connect to"),
    ],
)
def test_a_bad_database_url_is_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = sq("mq", *args, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert message in lines[0]


def test_a_broken_config_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "sq.yaml").write_text("port: not-a-number\nmq: {bogus: 1}\n")
    result = sq("mq", "topics", cwd=tmp_path)
    assert result.returncode == 2
    assert "port:" in result.stderr
    assert "mq.bogus: Extra inputs are not permitted" in result.stderr
