"""Buildkite as a build runner (REST API v2), for SubmitQueue and Stovepipe alike.

A build is created for the pushed commit on its queue-owned branch with
`POST /v2/organizations/{org}/pipelines/{pipeline}/builds`, carrying `meta_data.sq_build_id` and
the `SQ_*` variables in `env` (the pipeline runs `$SQ_BUILD_COMMAND`, or its own steps). It is
found again by branch (`GET …/builds?branch=`), read with `GET …/builds/{number}` and stopped with
`PUT …/builds/{number}/cancel`. The log is the failing (else the last) job's, from
`GET …/builds/{number}/jobs/{job}/log`.
"""

from __future__ import annotations

from typing import Any

from sq.platform.build import BuildState
from sq.platform.build.api_client import ApiClient, BuildRunnerRejectedError
from sq.platform.build.remote import CiBuild, CiBuildSpec, iso_ms
from sq.platform.clock import Clock

DEFAULT_API_URL = "https://api.buildkite.com"
META_BUILD_ID = "sq_build_id"

_STATES = {
    "creating": BuildState.PENDING,
    "scheduled": BuildState.PENDING,
    "waiting": BuildState.PENDING,
    "running": BuildState.RUNNING,
    "failing": BuildState.RUNNING,
    "canceling": BuildState.RUNNING,
    # A block step waits for a person; the build's timeout ends the wait.
    "blocked": BuildState.RUNNING,
    "passed": BuildState.PASSED,
    "failed": BuildState.FAILED,
    "waiting_failed": BuildState.FAILED,
    "canceled": BuildState.CANCELLED,
    # Never ran (skipped for a newer build of the branch, say): no verdict on the code.
    "skipped": BuildState.ERROR,
    "not_run": BuildState.ERROR,
}


class BuildkiteBackend:
    name = "buildkite"
    shows_builds_at_once = True

    def __init__(self, api: ApiClient, *, organization: str, pipeline: str) -> None:
        self.api = api
        self._builds = f"/v2/organizations/{organization}/pipelines/{pipeline}/builds"

    @classmethod
    def connect(
        cls,
        *,
        token: str,
        organization: str,
        pipeline: str,
        api_url: str = DEFAULT_API_URL,
        clock: Clock | None = None,
    ) -> BuildkiteBackend:
        api = ApiClient(api_url, token, name=cls.name, clock=clock)
        return cls(api, organization=organization, pipeline=pipeline)

    async def find(self, branch: str, build_id: str) -> CiBuild | None:
        builds = await self.api.call("GET", self._builds, params={"branch": branch})
        for build in builds or []:
            if (build.get("meta_data") or {}).get(META_BUILD_ID) == build_id:
                return _ci_build(build)
        return None

    async def create(self, spec: CiBuildSpec) -> CiBuild | None:
        body = {
            "commit": spec.sha,
            "branch": spec.branch,
            "message": spec.message,
            "env": dict(spec.env),
            "meta_data": {META_BUILD_ID: spec.build_id},
        }
        return _ci_build(await self.api.call("POST", self._builds, json=body))

    async def get(self, handle: str) -> CiBuild:
        return _ci_build(await self.api.call("GET", f"{self._builds}/{handle}"))

    async def cancel(self, handle: str) -> None:
        try:
            await self.api.call("PUT", f"{self._builds}/{handle}/cancel")
        except BuildRunnerRejectedError as exc:
            if exc.status_code != 422:  # 422: already finished, nothing to stop
                raise

    async def log(self, handle: str) -> str:
        build = await self.api.call("GET", f"{self._builds}/{handle}")
        jobs = [j for j in build.get("jobs") or [] if j.get("type", "script") == "script"]
        if not jobs:
            return ""
        failed = [j for j in jobs if j.get("state") == "failed"]
        job = (failed or jobs)[-1]
        body = await self.api.call(
            "GET", f"{self._builds}/{handle}/jobs/{job['id']}/log", missing_ok=True
        )
        return str((body or {}).get("content") or "")

    async def close(self) -> None:
        await self.api.close()


def _ci_build(build: dict[str, Any]) -> CiBuild:
    state = str(build.get("state", ""))
    mapped = _STATES.get(state, BuildState.RUNNING)
    number = build.get("number")
    reason = f"buildkite build #{number} {state}"
    return CiBuild(
        handle=str(number),
        state=mapped,
        reason=reason,
        web_url=str(build.get("web_url") or ""),
        created_at_ms=iso_ms(build.get("created_at")),
    )
