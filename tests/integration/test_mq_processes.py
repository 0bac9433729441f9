"""The SQL queue under real OS processes: sharing a group, SIGKILL mid-delivery, lease takeover.

Subscribers are `support.mq_process` processes on one SQLite file or one fresh PostgreSQL database;
this process publishes and reads the stores' tables, and each subscriber appends what it processed
to a file of its own. Processes find each other's work by polling, so every wait is a deadline loop
over those files and tables, and every process is killed by its pid when the test ends.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sq.platform import migrations
from sq.platform.db import create_engine
from sq.platform.messagequeue.model import OutgoingMessage
from sq.platform.messagequeue.sql.store import SqlQueueStore
from support.databases import fresh_postgres_database

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parents[1]
TOPIC = "work"
GROUP = "g"
DEADLINE_S = 45.0
"""Upper bound of any one wait; only a hang (or a lost message) reaches it."""

SUBSCRIBER = {
    "consumer_group": GROUP,
    "batch_size": 10,
    "poll_interval_ms": 50,
    "discovery_interval_ms": 100,
    "visibility_timeout_ms": 2000,
    "lease_duration_ms": 1500,
    "lease_renewal_interval_ms": 300,
}
LEASE_S = SUBSCRIBER["lease_duration_ms"] / 1000
VISIBILITY_S = SUBSCRIBER["visibility_timeout_ms"] / 1000


# --- databases and processes ---------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield _migrated(str(tmp_path / "queue.db"))
    else:
        with fresh_postgres_database() as url:
            yield _migrated(url)


def _migrated(url: str) -> str:
    engine = create_engine(url)
    migrations.upgrade(engine, migrations.queue_schema())
    engine.dispose()
    return url


@pytest.fixture
def store(database_url: str) -> Iterator[SqlQueueStore]:
    engine = create_engine(database_url)
    yield SqlQueueStore(engine)
    engine.dispose()


@dataclass
class Subscriber:
    name: str
    process: subprocess.Popen[bytes]
    record: Path
    output: Path
    killed_at_ns: int | None = None

    def events(self) -> list[dict[str, Any]]:
        if not self.record.exists():
            return []
        # The piece after the last newline is empty, or a line a SIGKILL cut short.
        lines = self.record.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines]

    def kill(self) -> None:
        """SIGKILL by pid; the death time is taken once the process has been reaped."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.killed_at_ns = time.monotonic_ns()

    def describe(self) -> str:
        tail = self.output.read_text()[-3000:] if self.output.exists() else ""
        return f"--- {self.name} (pid {self.process.pid}, exit {self.process.poll()}):\n{tail}"


class Fleet:
    """The subscriber processes of one test; `close` kills whatever is still running."""

    def __init__(self, url: str, directory: Path) -> None:
        self.url = url
        self.directory = directory
        self.members: list[Subscriber] = []

    def start(self, name: str, **settings: Any) -> Subscriber:
        record = self.directory / f"{name}.jsonl"
        output = self.directory / f"{name}.out"
        full = {
            **SUBSCRIBER,
            **settings,
            "url": self.url,
            "topic": TOPIC,
            "name": name,
            "record": str(record),
        }
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path])}
        with output.open("wb") as sink:
            process = subprocess.Popen(
                [sys.executable, "-m", "support.mq_process", json.dumps(full)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.directory,
            )
        member = Subscriber(name, process, record, output)
        self.members.append(member)
        return member

    def events(self, ev: str | None = None) -> list[dict[str, Any]]:
        found = [e for m in self.members for e in m.events()]
        return sorted((e for e in found if ev is None or e["ev"] == ev), key=lambda e: e["t"])

    def wait_until(self, what: str, predicate: Callable[[], bool]) -> None:
        deadline = time.monotonic() + DEADLINE_S
        while not predicate():
            self._check_alive()
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up after {DEADLINE_S:.0f} s waiting until {what}")
            time.sleep(0.05)

    def watch(self, seconds: float, what: str, violated: Callable[[], bool]) -> None:
        """For `seconds`, fail as soon as `violated()` holds."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._check_alive()
            assert not violated(), what
            time.sleep(0.05)

    def _check_alive(self) -> None:
        for m in self.members:
            if m.killed_at_ns is None and m.process.poll() is not None:
                raise AssertionError(f"subscriber {m.name} died:\n{m.describe()}")

    def close(self) -> None:
        for m in self.members:
            if m.process.poll() is None:
                m.process.kill()
            m.process.wait(timeout=10)

    def report(self) -> str:
        return "\n".join(m.describe() for m in self.members)


@pytest.fixture
def fleet(database_url: str, tmp_path: Path) -> Iterator[Fleet]:
    fleet = Fleet(database_url, tmp_path)
    try:
        yield fleet
    finally:
        fleet.close()


# --- publishing and reading state ----------------------------------------------------------------


def publish(store: SqlQueueStore, ids_by_key: dict[str, list[str]], batch: int = 25) -> None:
    now = time.time_ns() // 1_000_000
    messages = [
        OutgoingMessage(topic=TOPIC, partition_key=key, message_id=mid, payload=json.dumps(mid))
        for key, ids in ids_by_key.items()
        for mid in ids
    ]
    for start in range(0, len(messages), batch):
        assert all(store.publish(messages[start : start + batch], now))


def spread(prefix: str, count: int, keys: list[str]) -> dict[str, list[str]]:
    """`count` message ids dealt round-robin over `keys`, in publish order per key."""
    out: dict[str, list[str]] = {key: [] for key in keys}
    for n in range(count):
        out[keys[n % len(keys)]].append(f"{prefix}-{n:04d}")
    return out


def drained(store: SqlQueueStore) -> bool:
    """Every partition's watermark has reached its last seq: every ack is durable."""
    return all(
        store.watermark(GROUP, TOPIC, p.partition_key) == p.last_seq
        for p in store.partitions(TOPIC)
    )


def wait_for_subscribers(fleet: Fleet, store: SqlQueueStore, *names: str) -> None:
    fleet.wait_until(
        f"{', '.join(names)} heartbeat",
        lambda: set(names) <= set(store.active_subscribers(GROUP, TOPIC, 0)),
    )


# --- the invariants checked on the records -------------------------------------------------------


@dataclass(frozen=True)
class Processing:
    name: str
    key: str
    message_id: str
    attempt: int
    start: int
    end: int | None


def processings(fleet: Fleet) -> list[Processing]:
    """Every handler run, in start order; one cut short by a kill ends when its process died."""
    out = []
    for m in fleet.members:
        ends = {(e["id"], e["attempt"]): e["t"] for e in m.events() if e["ev"] == "end"}
        out += [
            Processing(
                name=m.name,
                key=e["key"],
                message_id=e["id"],
                attempt=e["attempt"],
                start=e["t"],
                end=ends.get((e["id"], e["attempt"]), m.killed_at_ns),
            )
            for e in m.events()
            if e["ev"] == "start"
        ]
    return sorted(out, key=lambda p: p.start)


def assert_partitions_never_processed_twice_at_once(runs: list[Processing]) -> None:
    """Within a partition, every handler run ends before the next one starts, in any process."""
    by_key: dict[str, list[Processing]] = defaultdict(list)
    for run in runs:
        by_key[run.key].append(run)
    for key, ordered in by_key.items():
        for before, after in itertools.pairwise(ordered):
            assert before.end is not None and before.end < after.start, (
                f"partition {key}: {after.name} started {after.message_id} "
                f"(attempt {after.attempt}) while {before.name} was still processing "
                f"{before.message_id} (attempt {before.attempt})"
            )


def order_by_key(runs: list[Processing]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for run in runs:
        out[run.key].append(run.message_id)
    return dict(out)


# --- the tests -----------------------------------------------------------------------------------

KEYS = [f"p{n:02d}" for n in range(12)]


def test_two_processes_share_a_group_without_double_processing(
    fleet: Fleet, store: SqlQueueStore
) -> None:
    a = fleet.start("proc-a", work_ms=5)
    b = fleet.start("proc-b", work_ms=5)
    wait_for_subscribers(fleet, store, a.name, b.name)

    published = spread("m", 300, KEYS)
    publish(store, published)
    fleet.wait_until(
        "all 300 messages are processed and acked",
        lambda: len(fleet.events("end")) >= 300 and drained(store),
    )

    runs = processings(fleet)
    ids = [run.message_id for run in runs]
    assert sorted(ids) == sorted(i for key in KEYS for i in published[key]), fleet.report()
    assert all(run.attempt == 1 and run.end is not None for run in runs)
    assert order_by_key(runs) == published, "a partition was processed out of publish order"
    assert_partitions_never_processed_twice_at_once(runs)
    workers = {run.name for run in runs}
    assert workers == {a.name, b.name}, f"only {workers} did any work: the group was not shared"


def test_sigkill_mid_delivery_hands_partitions_to_the_survivor(
    fleet: Fleet, store: SqlQueueStore
) -> None:
    # The marker's partition is the smallest key, so fair share never sheds it from its owner.
    marker_key, marker = KEYS[0], "marker"
    a = fleet.start("proc-a", work_ms=2, block_on=marker)
    b = fleet.start("proc-b", work_ms=2, block_on=marker)
    wait_for_subscribers(fleet, store, a.name, b.name)

    first = spread("m", 120, KEYS)
    publish(store, first)
    fleet.wait_until("the first 120 messages are acked", lambda: drained(store))

    followers = [f"after-marker-{n}" for n in range(5)]
    publish(store, {marker_key: [marker, *followers]})
    fleet.wait_until("a subscriber blocks on the marker", lambda: bool(fleet.events("blocked")))
    victim = next(m for m in fleet.members if m.name == fleet.events("blocked")[0]["name"])
    survivor = next(m for m in fleet.members if m is not victim)

    # Alive and renewing, the owner keeps the partition even after the visibility timeout lapses.
    fleet.watch(
        LEASE_S + VISIBILITY_S / 2,
        f"{marker_key} was processed elsewhere while its owner was alive",
        lambda: any(
            e["key"] == marker_key and e["name"] != victim.name for e in fleet.events("start")
        ),
    )
    epoch_before = {lease.partition_key: lease.epoch for lease in store.leases(GROUP, TOPIC)}
    victim.kill()

    last = spread("z", 48, KEYS)
    publish(store, last)
    every_id = {i for batch in (first, last) for ids in batch.values() for i in ids}
    every_id |= {marker, *followers}
    fleet.wait_until(
        "the survivor processed the marker and everything else",
        lambda: {e["id"] for e in fleet.events("end")} >= every_id and drained(store),
    )

    completed = sorted(e["id"] for e in fleet.events("end"))
    assert completed == sorted(every_id), "a message was lost or processed to the end twice"
    runs = processings(fleet)
    redelivered = [run for run in runs if run.message_id == marker]
    assert [(r.name, r.attempt > 1) for r in redelivered] == [
        (victim.name, False),
        (survivor.name, True),
    ]
    assert_partitions_never_processed_twice_at_once(runs)
    order = order_by_key(runs)
    for key in KEYS[1:]:
        assert order[key] == first[key] + last[key], f"{key} was processed out of publish order"
    leases = {lease.partition_key: lease for lease in store.leases(GROUP, TOPIC)}
    assert all(lease.owner in ("", survivor.name) for lease in leases.values()), leases
    assert leases[marker_key].epoch > epoch_before[marker_key]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_shedding_a_partition_whose_handler_still_runs_keeps_the_process_renewing(
    fleet: Fleet, store: SqlQueueStore
) -> None:
    # Alone, proc-a takes all four partitions and blocks in the handler of the largest key. When
    # proc-b joins, proc-a's fair share drops to two and it sheds p02 and p03. It can only give
    # p03 up when that handler returns; until then it must keep renewing what it holds.
    marker = "marker"
    a = fleet.start("proc-a", block_on=marker)
    wait_for_subscribers(fleet, store, a.name)
    publish(store, {"p00": ["m0"], "p01": ["m1"], "p02": ["m2"], "p03": [marker]})
    fleet.wait_until(
        "proc-a blocks on the marker and acks the rest",
        lambda: bool(fleet.events("blocked")) and len(fleet.events("end")) == 3,
    )
    b = fleet.start("proc-b", block_on=marker)
    wait_for_subscribers(fleet, store, a.name, b.name)

    def a_went_silent() -> bool:
        since = time.time_ns() // 1_000_000 - SUBSCRIBER["lease_duration_ms"]
        return a.name not in store.active_subscribers(GROUP, TOPIC, since)

    fleet.watch(
        LEASE_S + VISIBILITY_S,
        "proc-a, alive, stopped heartbeating and renewing its leases",
        a_went_silent,
    )
    assert [e["name"] for e in fleet.events("start") if e["id"] == marker] == [a.name], (
        "the marker was redelivered while proc-a's handler was still processing it"
    )
