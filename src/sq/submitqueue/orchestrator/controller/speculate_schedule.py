"""When a speculate signal gets a run of its own: one pending wake-up per queue, one run per burst.

A signal only says "this queue changed". Several stages write and signal at about the same time
(builds finishing together, a merge landing while builds are observed), and a run that started
on the first signal of a burst would see an arbitrary part of it: which futures got funded would
then depend on task interleaving. So a signal first *settles*: it is held until `settle_ms` after
the end of the settle window (`settle_ms` long) it was published in, which lets the rest of its
burst land. A run that reads after a signal settled has seen everything that signal announced (its
writer committed before publishing), so the signal is *covered* and is acknowledged without a run
of its own. A signal published while a run is under way is not covered by it and so causes exactly
one more run, which covers the rest.

A stage that changed the queue *wakes* it (`wake_speculate`): a signal that names no batch, under
an id naming the queue and the window it was published in. The queue stores a message once per id,
so every wake-up of one window is one pending message, however many events it announces. Settling
from the window's end is what makes that safe: every wake-up that deduplicated into the message
was published before the window ended, so the run after it settles has seen their writes. A
wake-up published once a run has read falls in a later window (the run read at least `settle_ms`
after the window's end): a new message, and another run. A stage that failed between its write
and its wake-up wakes again when its delivery comes back, in a later window, so nothing lost.

The settle time is also the tolerance for clock skew between the publishing process and this one:
coverage compares the publisher's timestamp (and window) with this process's clock, which is safe
while the clocks differ by less than `settle_ms` and every process uses the same settle time.
Coverage is remembered in memory only; after a restart, or when another process took the queue's
partition, the next signal simply runs.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from sq.platform.pipeline import StageContext
from sq.platform.publish import intent_id, unique_id
from sq.submitqueue.core import messages as m
from sq.submitqueue.orchestrator.profile import OrchestratorDeps

WAKE = ""
"""The batch a wake-up names: none (a run re-plans the whole queue)."""


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
        settled_at = self.settled_at(published_ms)
        last_read = self._read_at.get(queue)
        if last_read is not None and settled_at <= last_read:
            return Decision.COVERED
        if now_ms < settled_at:
            return Wait(settled_at - now_ms)
        return Decision.RUN

    def settled_at(self, published_ms: int) -> int:
        """`settle_ms` after the end of the window holding `published_ms`."""
        settle = self.settle_ms
        return published_ms if not settle else (published_ms // settle + 2) * settle

    def ran(self, queue: str, read_ms: int) -> None:
        """A run of `queue` that read at `read_ms` has finished."""
        self._read_at[queue] = max(read_ms, self._read_at.get(queue, read_ms))


def settle_ms_of(deps: OrchestratorDeps) -> int:
    return round(deps.speculate_settle_s * 1000)


def wake_id(queue: str, now_ms: int, settle_ms: int) -> str:
    """The id of `queue`'s wake-up published at `now_ms`: one per settle window. Without a settle
    time nothing settles later than its own publish, so every wake-up is a message of its own."""
    if not settle_ms:
        return unique_id(queue)
    return intent_id(queue, "wake", str(now_ms // settle_ms))


async def wake_speculate(deps: OrchestratorDeps, ctx: StageContext, queue: str) -> None:
    """Ask for a speculate run of `queue` after a write has committed. Call it again whenever a
    redelivery may follow a failure between the write and this call."""
    message_id = wake_id(queue, deps.clock.now_ms(), settle_ms_of(deps))
    await ctx.publish(m.TOPIC_SPECULATE, queue, message_id, m.EntityRef(id=WAKE, queue=queue))
