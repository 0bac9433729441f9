"""The storage contract as a state machine: random publishes, fetches, outcomes, crashes, takeovers.

Hypothesis drives a `QueueStore` directly (synchronously, with an integer clock) and a model of
the contract predicts every cycle: the watermark, the deliveries with their attempts, what was
dead-lettered and when the next skipped row is due. On top of that prediction the machine checks:

- delivery within a partition never goes backwards: first deliveries come in seq order, and a seq
  comes back only as a documented redelivery (a retry, an elapsed hold, a lapsed visibility or a
  hand-back), never once acked or dead-lettered;
- at most one subscriber holds a valid lease on a partition, and a superseded owner's writes raise
  `LeaseLostError` and change nothing;
- collection at any moment never hides a partition with work from discovery;
- nothing is lost: at teardown the machine drains every partition (taking over, waiting out every
  delay, acking what comes), then every published id must have been acked or dead-lettered, and
  the DLQ must hold exactly what was dead-lettered, so a held message is never dead-lettered.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy.engine import Engine

from sq.platform.errs import Failure
from sq.platform.messagequeue.memory import MemoryQueueStore
from sq.platform.messagequeue.model import LeaseLostError, OutgoingMessage, dlq_topic
from sq.platform.messagequeue.sql.store import SqlQueueStore
from sq.platform.messagequeue.store import (
    CycleResult,
    Fence,
    FetchSpec,
    Outcome,
    OutcomeKind,
    QueueStore,
)

GROUP = "g"
KEYS = ("a", "b")
NAMES = ("s1", "s2", "s3")
LEASE_MS = 1000
FETCH = FetchSpec(batch_size=3, visibility_timeout_ms=500, max_attempts=3, dead_letter=True)
EXAMPLES = {"memory": 100, "sqlite": 25, "postgres": 10}
_topics = itertools.count()


@dataclass
class Row:
    """The model of one message's state for the group."""

    message_id: str
    done: str = ""
    """"" while pending; "acked" or "dead" once finished."""
    delivered: bool = False
    retry_count: int = 0
    visible_at: int = 0
    postponed: bool = False
    seen: bool = False
    """Delivered at least once (a hand-back of a first delivery clears `delivered`, not this)."""
    published_at: int = 0
    collected: bool = False
    """Removed by collection: its id is no longer a duplicate."""


@dataclass
class Partition:
    rows: list[Row] = field(default_factory=list)
    watermark: int = 0
    lease_owner: str | None = None
    """None: no lease row yet; "": released."""
    lease_epoch: int = 0
    lease_renewed_at: int = 0
    holder: Fence | None = None
    """The subscriber that believes it owns the partition and is alive."""
    former: list[Fence] = field(default_factory=list)
    """Fences of owners that crashed, stalled or released: they may still try to write."""
    inflight: dict[int, int | None] = field(default_factory=dict)
    """seq -> previous retry count (None: first delivery) of the holder's unfinished deliveries."""
    pending: list[Outcome] = field(default_factory=list)
    """Outcomes the holder decided and writes with its next cycle, as the partition worker does."""
    highest_first_delivery: int = 0

    def valid(self, fence: Fence) -> bool:
        return (fence.owner, fence.epoch) == (self.lease_owner, self.lease_epoch)


class StoreMachine(RuleBasedStateMachine):
    new_store: Callable[[], QueueStore]

    def __init__(self) -> None:
        super().__init__()
        self.store = self.new_store()
        self.topic = f"t{next(_topics)}"
        self.now = 1_000_000
        self.parts = {key: Partition() for key in KEYS}
        self.published = 0

    # --- the model's prediction of one cycle -----------------------------------------------------

    def _apply(self, p: Partition, o: Outcome) -> int:
        row = p.rows[o.seq - 1]
        if o.kind is OutcomeKind.ACK:
            row.done = row.done or "acked"
        elif o.kind is OutcomeKind.DEAD_LETTER:
            stored = int(not row.done)
            row.done = row.done or "dead"
            return stored
        elif row.done or not row.delivered:
            pass
        elif o.kind is OutcomeKind.RETRY:
            row.visible_at, row.postponed = o.until_ms, False
        elif o.kind is OutcomeKind.POSTPONE:
            row.visible_at, row.postponed, row.retry_count = o.until_ms, True, 0
        elif o.previous_retry_count is None:  # a hand-back of a first delivery
            p.rows[o.seq - 1] = Row(message_id=row.message_id, seen=True)
        else:
            row.visible_at, row.retry_count = 0, o.previous_retry_count
        return 0

    def _advance(self, p: Partition) -> None:
        while p.watermark < len(p.rows) and p.rows[p.watermark].done:
            p.watermark += 1

    def cycle(self, key: str, outcomes: list[Outcome], fetch: bool) -> CycleResult:
        """Run a cycle as the partition's holder and check it against the model."""
        p = self.parts[key]
        assert p.holder is not None
        result = self.store.cycle(p.holder, outcomes, FETCH if fetch else None, self.now)
        dead = sum(self._apply(p, o) for o in outcomes)
        for o in outcomes:
            p.inflight.pop(o.seq, None)
        self._advance(p)
        assert result.watermark == p.watermark
        expected: list[tuple[int, int]] = []
        next_due: int | None = None
        if fetch:
            for seq, row in list(enumerate(p.rows, 1))[
                p.watermark : p.watermark + FETCH.batch_size
            ]:
                if row.done:
                    continue
                if row.delivered and row.visible_at > self.now:
                    next_due = min(next_due or row.visible_at, row.visible_at)
                    if row.postponed:
                        break
                    continue
                retry = 0
                if row.delivered:
                    retry = row.retry_count if row.postponed else row.retry_count + 1
                if seq in p.inflight:
                    del p.inflight[seq]  # lapsed: the holder gave up on it
                if retry >= FETCH.max_attempts:
                    assert not row.postponed, "a held message would be dead-lettered"
                    row.done, dead = "dead", dead + 1
                    continue
                previous = row.retry_count if row.delivered else None
                self._check_redelivery(p, seq, row)
                row.delivered, row.seen, row.retry_count, row.postponed = True, True, retry, False
                row.visible_at = self.now + FETCH.visibility_timeout_ms
                expected.append((seq, retry + 1))
                p.inflight[seq] = previous
        actual = [(f.message.seq, f.attempt) for f in result.deliveries]
        assert actual == expected, f"deliveries {actual}, expected {expected}"
        for f in result.deliveries:
            assert f.message.message_id == p.rows[f.message.seq - 1].message_id
            assert f.previous_retry_count == p.inflight[f.message.seq]
        assert result.dead_lettered == dead
        assert result.next_due_ms == next_due
        return result

    def _check_redelivery(self, p: Partition, seq: int, row: Row) -> None:
        assert not row.done, f"seq {seq} delivered again after it was {row.done}"
        if not row.seen:
            assert seq > p.highest_first_delivery, f"first delivery of {seq} went backwards"
            p.highest_first_delivery = seq
        else:
            assert row.visible_at <= self.now, f"seq {seq} redelivered while invisible"

    # --- rules -----------------------------------------------------------------------------------

    def _held(self) -> list[str]:
        return [key for key, p in self.parts.items() if p.holder is not None]

    def _busy(self) -> list[str]:
        return [key for key, p in self.parts.items() if p.holder is not None and p.inflight]

    def _superseded(self) -> list[Fence]:
        return [f for p in self.parts.values() for f in p.former if not p.valid(f)]

    @initialize()
    def start(self) -> None:
        for n, key in enumerate(KEYS):
            self.publish(key, 3, duplicate=False)
            self.acquire(key, NAMES[n])

    @rule(key=st.sampled_from(KEYS), count=st.integers(1, 3), duplicate=st.booleans())
    def publish(self, key: str, count: int, duplicate: bool) -> None:
        p = self.parts[key]
        ids = [f"m{self.published + n}" for n in range(count)]
        self.published += count
        stored = [r for r in p.rows if not r.collected]
        again = [stored[0].message_id] if duplicate and stored else []
        messages = [
            OutgoingMessage(topic=self.topic, partition_key=key, message_id=i, payload="{}")
            for i in ids + again
        ]
        assert self.store.publish(messages, self.now) == [True] * count + [False] * len(again)
        p.rows.extend(Row(message_id=i, published_at=self.now) for i in ids)

    @rule(key=st.sampled_from(KEYS), name=st.sampled_from(NAMES))
    def acquire(self, key: str, name: str) -> None:
        """Take the partition if its lease is free or stale; a live lease must be refused."""
        p = self.parts[key]
        free = not p.lease_owner or p.lease_renewed_at < self.now - LEASE_MS
        lease = self.store.try_acquire(GROUP, self.topic, key, name, self.now, self.now - LEASE_MS)
        if not free:
            assert lease is None, f"{name} took a live lease on {key}"
            return
        assert lease is not None and lease.epoch == p.lease_epoch + 1
        if p.holder is not None:
            p.former.append(p.holder)  # it stalled: it still believes it owns the partition
        p.holder = Fence(
            consumer_group=GROUP, topic=self.topic, partition_key=key, owner=name, epoch=lease.epoch
        )
        p.lease_owner, p.lease_epoch, p.lease_renewed_at = name, lease.epoch, self.now
        p.inflight.clear()
        p.pending.clear()

    @precondition(lambda self: self._held())
    @rule(data=st.data())
    def renew(self, data: st.DataObject) -> None:
        p = self.parts[data.draw(st.sampled_from(self._held()))]
        assert p.holder is not None
        lost = self.store.renew([p.holder], self.now)
        assert lost == ([] if p.valid(p.holder) else [p.holder.partition_key])
        if not lost:
            p.lease_renewed_at = self.now

    @precondition(lambda self: self._held())
    @rule(data=st.data(), how=st.sampled_from(["release", "crash"]))
    def stop(self, data: st.DataObject, how: str) -> None:
        """The holder gives its lease up, or dies: either way it forgets what it had in flight."""
        p = self.parts[data.draw(st.sampled_from(self._held()))]
        assert p.holder is not None
        if how == "release":
            self.store.release(p.holder)
            p.lease_owner = ""
        p.former.append(p.holder)
        p.holder = None
        p.inflight.clear()
        p.pending.clear()

    @precondition(lambda self: self._held())
    @rule(data=st.data())
    def fetch(self, data: st.DataObject) -> None:
        """A worker's cycle: write the decided outcomes, claim a window, decide some of it."""
        key = data.draw(st.sampled_from(self._held()))
        p = self.parts[key]
        outcomes, p.pending = p.pending, []
        result = self.cycle(key, outcomes, fetch=True)
        for fetched in result.deliveries:
            kind = data.draw(st.sampled_from([None, *OutcomeKind]))
            if kind is not None:
                p.pending.append(self._outcome(p, fetched.message.seq, kind, data))
                del p.inflight[fetched.message.seq]

    def _outcome(self, p: Partition, seq: int, kind: OutcomeKind, data: st.DataObject) -> Outcome:
        return Outcome(
            seq=seq,
            kind=kind,
            until_ms=self.now + data.draw(st.integers(0, 1500)),
            failure=Failure(message="boom") if kind is OutcomeKind.DEAD_LETTER else None,
            failure_count=p.rows[seq - 1].retry_count + 1,
            previous_retry_count=p.inflight[seq],
        )

    @precondition(lambda self: self._busy())
    @rule(fetch=st.booleans(), data=st.data())
    def finish(self, fetch: bool, data: st.DataObject) -> None:
        """The holder ends some in-flight deliveries (ack, retry, hold, DLQ, hand-back) at once."""
        key = data.draw(st.sampled_from(self._busy()))
        p = self.parts[key]
        seqs = data.draw(st.lists(st.sampled_from(sorted(p.inflight)), min_size=1, unique=True))
        outcomes = [
            self._outcome(p, seq, data.draw(st.sampled_from(OutcomeKind)), data) for seq in seqs
        ]
        outcomes, p.pending = p.pending + outcomes, []
        self.cycle(key, outcomes, fetch)

    @precondition(lambda self: self._busy())
    @rule(delay=st.integers(0, 2000), data=st.data())
    def extend(self, delay: int, data: st.DataObject) -> None:
        p = self.parts[data.draw(st.sampled_from(self._busy()))]
        assert p.holder is not None
        seq = data.draw(st.sampled_from(sorted(p.inflight)))
        assert self.store.extend(p.holder, seq, self.now + delay)
        p.rows[seq - 1].visible_at = self.now + delay

    @rule(ms=st.integers(0, 1200))
    def advance_time(self, ms: int) -> None:
        self.now += ms

    @rule(retention=st.integers(0, 3000))
    def collect(self, retention: int) -> None:
        """Collection of the whole topic, settling what it empties: it may remove only what the
        group has passed, and must never hide a partition that has work for the group."""
        cutoff = self.now - retention
        self.store.gc_topic(self.topic, cutoff)
        for p in self.parts.values():
            for row in p.rows[: p.watermark]:
                row.collected = row.collected or row.published_at < cutoff
        pending = {key for key, p in self.parts.items() if p.watermark < len(p.rows)}
        assert pending <= set(self.store.discover(GROUP, self.topic))

    @precondition(lambda self: self._superseded())
    @rule(action=st.integers(0, 4), data=st.data())
    def former_owner_writes(self, action: int, data: st.DataObject) -> None:
        """A former owner that lost its lease tries to write: refused, and nothing changes."""
        fence = data.draw(st.sampled_from(self._superseded()))
        key = fence.partition_key
        before = self._snapshot(key)
        seq = data.draw(st.integers(1, max(1, len(self.parts[key].rows))))
        ack = Outcome(seq=seq, kind=OutcomeKind.ACK)
        if action == 0:
            with pytest.raises(LeaseLostError):
                self.store.cycle(fence, [ack], FETCH, self.now)
        elif action == 1:
            with pytest.raises(LeaseLostError):
                self.store.cycle(fence, [], FETCH, self.now)
        elif action == 2:
            with pytest.raises(LeaseLostError):
                self.store.extend(fence, seq, self.now + 10_000)
        elif action == 3:
            assert self.store.renew([fence], self.now) == [key]
        else:
            self.store.release(fence)
        assert self._snapshot(key) == before

    def _snapshot(self, key: str) -> object:
        s = self.store
        return (
            s.leases(GROUP, self.topic),
            s.watermark(GROUP, self.topic, key),
            s.partitions(self.topic),
            s.partitions(dlq_topic(self.topic)),
        )

    # --- invariants ------------------------------------------------------------------------------

    @invariant()
    def one_valid_lease_per_partition(self) -> None:
        leases = {lease.partition_key: lease for lease in self.store.leases(GROUP, self.topic)}
        for key, p in self.parts.items():
            believers = [f for f in [p.holder, *p.former] if f is not None and p.valid(f)]
            assert len(believers) <= 1, f"{key} is validly held by {believers}"
            if p.lease_owner is None:
                assert key not in leases
            else:
                lease = leases[key]
                assert (lease.owner, lease.epoch) == (p.lease_owner, p.lease_epoch)

    # --- the end: drain, then nothing may be missing ---------------------------------------------

    def teardown(self) -> None:
        for _ in range(100):
            if all(p.watermark == len(p.rows) for p in self.parts.values()):
                break
            due = [r.visible_at for p in self.parts.values() for r in p.rows if not r.done]
            self.now = max([self.now + LEASE_MS + 1, *(d + 1 for d in due)])
            for key, p in self.parts.items():
                if p.holder is None:
                    self.acquire(key, "drainer")
                acks = [Outcome(seq=seq, kind=OutcomeKind.ACK) for seq in sorted(p.inflight)]
                outcomes, p.pending = p.pending + acks, []
                self.cycle(key, outcomes, fetch=True)
                assert p.holder is not None
                assert self.store.renew([p.holder], self.now) == []
                p.lease_renewed_at = self.now
        for key, p in self.parts.items():
            assert p.watermark == len(p.rows), f"{key} did not drain"
            assert self.store.watermark(GROUP, self.topic, key) == len(p.rows)
            lost = [r.message_id for r in p.rows if r.done not in ("acked", "dead")]
            assert not lost, f"lost {lost}"
        dead = {
            f"{GROUP}:{r.message_id}"
            for p in self.parts.values()
            for r in p.rows
            if r.done == "dead"
        }
        assert self._dead_letters() == dead

    def _dead_letters(self) -> set[str]:
        """Everything in the DLQ, read by a group of its own."""
        topic, found = dlq_topic(self.topic), set()
        for info in self.store.partitions(topic):
            lease = self.store.try_acquire("reader", topic, info.partition_key, "r", self.now, 0)
            assert lease is not None
            fence = Fence(
                consumer_group="reader",
                topic=topic,
                partition_key=info.partition_key,
                owner="r",
                epoch=lease.epoch,
            )
            spec = replace(FETCH, batch_size=1000)
            for fetched in self.store.cycle(fence, [], spec, self.now).deliveries:
                found.add(fetched.message.message_id)
        return found


def test_the_store_contract_holds_under_random_operations(
    backend: str, engine: Engine | None
) -> None:
    def new_store() -> QueueStore:
        # One database per test; each example gets topics of its own.
        return MemoryQueueStore() if engine is None else SqlQueueStore(engine)

    machine = type(
        f"StoreMachine_{backend}", (StoreMachine,), {"new_store": staticmethod(new_store)}
    )
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES[backend],
            stateful_step_count=50,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
