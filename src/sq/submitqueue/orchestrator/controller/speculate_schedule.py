"""When a speculate signal gets a run of its own: one run per burst of signals.

A signal only says "this queue changed". Several stages write and signal at about the same time
(builds finishing together, a merge landing while builds are observed), and a run that started
on the first signal of a burst would see an arbitrary part of it: which futures got funded would
then depend on task interleaving. So a signal first *settles*: it is held until `settle_ms` after
it was published, which lets the rest of its burst land. A run that reads after a signal settled
has seen everything that signal announced (its writer committed before publishing), so the signal
is *covered* and is acknowledged without a run of its own. A signal published while a run is
under way is not covered by it and so causes exactly one more run, which covers the rest.

The settle time is also the tolerance for clock skew between the publishing process and this one:
coverage compares the publisher's timestamp with this process's clock, which is safe while the
clocks differ by less than `settle_ms`. Coverage is remembered in memory only; after a restart, or
when another process took the queue's partition, the next signal simply runs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wait:
    """Hold the signal this long before deciding again."""

    ms: int


class Decision(enum.Enum):
    RUN = "run"
    """Run now: the signal has settled and no finished run read after it."""
    COVERED = "covered"
    """Drop the signal: a run that read after it settled has finished."""


class RunSchedule:
    def __init__(self, settle_ms: int) -> None:
        if settle_ms < 0:
            raise ValueError(f"settle time must not be negative, got {settle_ms} ms")
        self.settle_ms = settle_ms
        self._read_at: dict[str, int] = {}

    def decide(self, queue: str, published_ms: int, now_ms: int) -> Decision | Wait:
        """`COVERED` when a finished run read after the signal settled; else `Wait` until it
        settles; else `RUN`."""
        settled_at = published_ms + self.settle_ms
        last_read = self._read_at.get(queue)
        if last_read is not None and settled_at <= last_read:
            return Decision.COVERED
        if now_ms < settled_at:
            return Wait(settled_at - now_ms)
        return Decision.RUN

    def ran(self, queue: str, read_ms: int) -> None:
        """A run of `queue` that read at `read_ms` has finished."""
        self._read_at[queue] = max(read_ms, self._read_at.get(queue, read_ms))
