"""A build runner with no CI: the outcome comes from labels, and tests may hold builds.

The outcome is the `sq-fake` label, else the first `sq-fake=` marker of the URIs in the `uris`
label (space-separated; submitqueue-spec §8.5): `build-fail` fails the build, `build-error`
makes `status` raise, `trigger-error` makes `trigger` raise; anything else passes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable

from sq.platform.build import (
    BuildRequest,
    BuildRunnerError,
    BuildState,
    BuildStatus,
    UnknownBuildError,
)
from sq.platform.changeuri import first_fake_marker


def fake_marker(request: BuildRequest) -> str | None:
    return request.labels.get("sq-fake") or first_fake_marker(
        request.labels.get("uris", "").split()
    )


class FakeBuildRunner:
    """Finishes builds at once, or with `held=True` keeps them running until `release`d.

    `triggered` lists every request in trigger order (a re-trigger of a known id is not listed);
    `cancelled` lists the ids of builds stopped by `cancel`. `on_finish` is awaited with the final
    status of each held build once `release`d, `finish`ed or cancelled (as the command runner's).
    """

    def __init__(
        self,
        *,
        held: bool = False,
        on_finish: Callable[[BuildRequest, BuildStatus], Awaitable[None]] | None = None,
    ) -> None:
        self.held = held
        self.on_finish = on_finish
        self._finishing: list[Awaitable[None]] = []
        self.triggered: list[BuildRequest] = []
        self.cancelled: list[str] = []
        self._status: dict[str, BuildStatus] = {}
        self._requests: dict[str, BuildRequest] = {}

    async def trigger(self, request: BuildRequest) -> BuildStatus:
        known = self._status.get(request.build_id)
        if known is not None:
            return known
        marker = fake_marker(request)
        if marker == "trigger-error":
            raise BuildRunnerError(f"fake runner: injected trigger error for {request.build_id}")
        self.triggered.append(request)
        self._requests[request.build_id] = request
        state = BuildState.RUNNING if self.held else _verdict(marker)
        status = BuildStatus(build_id=request.build_id, state=state)
        self._status[request.build_id] = status
        return status

    async def status(self, build_id: str) -> BuildStatus:
        status = self._status.get(build_id)
        if status is None:
            raise UnknownBuildError(build_id)
        if fake_marker(self._requests[build_id]) == "build-error":
            raise BuildRunnerError(f"fake runner: injected status error for {build_id}")
        return status

    async def cancel(self, build_id: str) -> BuildStatus:
        status = self._status.get(build_id)
        if status is None:
            raise UnknownBuildError(build_id)
        if status.state.finished:
            return status
        self.cancelled.append(build_id)
        status = self._set(build_id, BuildState.CANCELLED)
        await self.finished()
        return status

    async def log(self, build_id: str) -> str:
        if build_id not in self._status:
            return ""
        return f"fake build {build_id}: {self._status[build_id].state}\n"

    # --- for tests -----------------------------------------------------------------------------

    def running(self) -> list[BuildRequest]:
        return [
            r
            for r in self.triggered
            if (status := self._status.get(r.build_id)) is not None and not status.state.finished
        ]

    def release(self, which: Callable[[BuildRequest], bool] = lambda r: True) -> int:
        """Finish every running build `which` selects with its labelled outcome; how many."""
        released = 0
        for request in self.running():
            if which(request):
                self._set(request.build_id, _verdict(fake_marker(request)))
                released += 1
        return released

    def finish(self, build_id: str, state: BuildState, reason: str = "") -> None:
        """Force a build's state (a CI that cancelled it on its own, a flake…)."""
        self._set(build_id, state, reason)

    def forget(self, build_id: str) -> None:
        """Lose a build as a restarted runner does: its id is unknown from now on."""
        del self._status[build_id]

    def _set(self, build_id: str, state: BuildState, reason: str = "") -> BuildStatus:
        status = dataclasses.replace(self._status[build_id], state=state, reason=reason)
        self._status[build_id] = status
        if self.on_finish is not None and state.finished:
            self._finishing.append(self.on_finish(self._requests[build_id], status))
        return status

    async def finished(self) -> None:
        """Await the `on_finish` calls of the builds released or finished so far."""
        while self._finishing:
            await self._finishing.pop(0)


def _verdict(marker: str | None) -> BuildState:
    return BuildState.FAILED if marker == "build-fail" else BuildState.PASSED
