"""Components that start in order and stop in reverse, every error joined (platform-spec §4.2)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Component(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class LifecycleError(Exception):
    """One or more components failed to start or stop; `errors` holds every cause."""

    def __init__(self, message: str, errors: Sequence[BaseException]) -> None:
        details = "; ".join(str(e) for e in errors)
        super().__init__(f"{message}: {details}" if details else message)
        self.errors = list(errors)


class Group:
    """Start members in order; if one fails, stop those already started, in reverse.

    `None` members are skipped, so optional parts can be listed inline. Groups nest.
    """

    def __init__(self, *members: Component | None) -> None:
        self.members = [m for m in members if m is not None]
        self._started: list[Component] = []

    async def start(self) -> None:
        for index, member in enumerate(self.members):
            try:
                await member.start()
            except Exception as exc:
                failures: list[BaseException] = [
                    LifecycleError(f"component {index} failed to start", [exc])
                ]
                failures.extend(await self._stop_started())
                raise LifecycleError("start failed", failures) from exc
            self._started.append(member)

    async def stop(self) -> None:
        failures = await self._stop_started()
        if failures:
            raise LifecycleError("stop failed", failures)

    async def _stop_started(self) -> list[BaseException]:
        failures: list[BaseException] = []
        while self._started:
            member = self._started.pop()
            try:
                await member.stop()
            except Exception as exc:  # noqa: BLE001  collected and raised together below
                index = self.members.index(member)
                failures.append(LifecycleError(f"component {index} failed to stop", [exc]))
        return failures
