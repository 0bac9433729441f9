"""What tests ask the in-memory queue store: what is stored, what is due, what is hidden and until
when. Mixed into `MemoryQueueStore`; nothing here writes."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sq.platform.messagequeue import window
from sq.platform.messagequeue.model import StoredMessage


@dataclass(slots=True)
class RowFlags:
    """One group's state of one stored message."""

    acked: bool = False
    invisible_until_ms: int = 0
    retry_count: int = 0
    postponed: bool = False

    def row(self) -> window.RowState:
        return window.RowState(
            self.acked, self.invisible_until_ms, self.retry_count, self.postponed
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Hidden:
    """A message a group was handed, or told to try again later: invisible until `until_ms`."""

    consumer_group: str
    topic: str
    partition_key: str
    seq: int
    until_ms: int


class MemoryInspection:
    _lock: threading.Lock
    _last_seq: dict[tuple[str, str], int]
    _rows: dict[tuple[str, str], dict[int, StoredMessage]]
    _states: dict[tuple[str, str, str], dict[int, RowFlags]]
    _offsets: dict[tuple[str, str, str], int]

    def topics(self) -> list[str]:
        """Every topic anything was ever published to."""
        with self._lock:
            return sorted({t for t, _ in self._last_seq})

    def messages(self, topic: str) -> list[StoredMessage]:
        """The messages of `topic` still stored, by partition then sequence."""
        with self._lock:
            return [
                row
                for (t, _), rows in sorted(self._rows.items())
                if t == topic
                for _, row in sorted(rows.items())
            ]

    def due(self, consumer_group: str, topic: str, now_ms: int, batch_size: int) -> list[str]:
        """The partitions of `topic` holding a message `consumer_group` would be handed now, in
        a window of `batch_size` rows past its watermark (as `cycle` fetches)."""
        with self._lock:
            keys = []
            for (t, key), rows in sorted(self._rows.items()):
                group_part = (consumer_group, t, key)
                states = self._states.get(group_part, {})
                mark = self._offsets.get(group_part, 0)
                for seq in sorted(s for s in rows if t == topic and s > mark)[:batch_size]:
                    found = states.get(seq)
                    verdict = window.classify(None if found is None else found.row(), now_ms)
                    if verdict is window.Verdict.DELIVER:
                        keys.append(key)
                    if verdict in (window.Verdict.DELIVER, window.Verdict.BARRIER):
                        break
            return keys

    def hidden(self, now_ms: int) -> list[Hidden]:
        """Every message a group will see again after `now_ms`: in a handler, or waiting."""
        with self._lock:
            return [
                Hidden(
                    consumer_group=g,
                    topic=t,
                    partition_key=k,
                    seq=seq,
                    until_ms=state.invisible_until_ms,
                )
                for (g, t, k), states in sorted(self._states.items())
                for seq, state in sorted(states.items())
                if not state.acked and state.invisible_until_ms > now_ms
            ]
