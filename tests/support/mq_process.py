"""A subscriber process for fault tests: consume one topic and record every processing to a file.

Run as `python -m support.mq_process '<settings as JSON>'` (see `Settings`). It subscribes with the
real clock and polls (there are no cross-process wake-ups), then runs until it is killed.

The record file gets one JSON object per line, appended with `O_APPEND` and fsync'd before the
handler goes on, so a SIGKILL loses at most the line being written:

- `{"ev": "ready"}` once subscribed;
- `{"ev": "start", ...}` when a handler starts, `{"ev": "end", ...}` just before it acks;
- `{"ev": "blocked", ...}` when the handler reaches the message named `block_on` on its first
  attempt: that handler then never returns, which is how a test holds a delivery in flight.

Times are `time.monotonic_ns()`: on Linux one clock for every process of the machine, so intervals
recorded by different processes compare.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from typing import Any

from sq.platform.db import create_engine
from sq.platform.messagequeue import Delivery, MessageQueue, SubscriptionConfig
from sq.platform.messagequeue.sql.store import SqlQueueStore

CONFIG_FIELDS = (
    "consumer_group",
    "batch_size",
    "poll_interval_ms",
    "discovery_interval_ms",
    "visibility_timeout_ms",
    "lease_duration_ms",
    "lease_renewal_interval_ms",
)


class Recorder:
    def __init__(self, path: str, name: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._common = {"name": name, "pid": os.getpid()}

    def write(self, ev: str, **fields: Any) -> None:
        event = {"ev": ev, "t": time.monotonic_ns(), **self._common, **fields}
        os.write(self._fd, (json.dumps(event, sort_keys=True) + "\n").encode())
        os.fsync(self._fd)


async def run(settings: dict[str, Any]) -> None:
    name = settings["name"]
    record = Recorder(settings["record"], name)
    block_on = settings.get("block_on")
    work_s = settings.get("work_ms", 0) / 1000
    engine = create_engine(settings["url"])
    queue = MessageQueue(SqlQueueStore(engine), subscriber_name=name)

    async def handle(delivery: Delivery) -> None:
        about = {
            "id": delivery.message_id,
            "key": delivery.partition_key,
            "attempt": delivery.attempt,
        }
        record.write("start", **about)
        if delivery.message_id == block_on and delivery.attempt == 1:
            record.write("blocked", **about)
            await asyncio.Event().wait()
        if work_s:
            await asyncio.sleep(work_s)  # simulated work, so that processings have a duration
        record.write("end", **about)
        delivery.ack()

    config = SubscriptionConfig(**{k: settings[k] for k in CONFIG_FIELDS if k in settings})
    await queue.subscribe(settings["topic"], config, handle)
    record.write("ready")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(run(json.loads(sys.argv[1])))
