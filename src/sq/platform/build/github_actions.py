"""GitHub Actions as a build runner, for SubmitQueue and Stovepipe alike.

The pushed commit's queue-owned branch is built by a `workflow_dispatch` of the configured workflow
(`POST /repos/{owner}/{repo}/actions/workflows/{workflow}/dispatches`, inputs `sq_build_id`,
`sq_command`, `sq_base`, `sq_baseline`; the workflow must declare them). A dispatch returns no run,
so the run is found by its branch (`GET …/actions/runs?branch=…&event=workflow_dispatch`), which
is unique to the build; until it shows up the build is pending. It is read with
`GET …/actions/runs/{id}`, stopped with `POST …/runs/{id}/cancel`, and its log is the failing
(else the last) job's, from `GET …/actions/jobs/{job}/logs`.
"""

from __future__ import annotations

from typing import Any

from sq.platform.build import BuildState
from sq.platform.build.api_client import ApiClient, BuildRunnerRejectedError
from sq.platform.build.remote import CiBuild, CiBuildSpec, iso_ms
from sq.platform.clock import Clock

DEFAULT_API_URL = "https://api.github.com"
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}

_INPUTS = (
    ("sq_command", "SQ_BUILD_COMMAND"),
    ("sq_base", "SQ_BASE"),
    ("sq_baseline", "SQ_BASELINE"),
)
_STATUSES = {
    "requested": BuildState.PENDING,
    "queued": BuildState.PENDING,
    "waiting": BuildState.PENDING,
    "pending": BuildState.PENDING,
    "in_progress": BuildState.RUNNING,
}
_CONCLUSIONS = {
    "success": BuildState.PASSED,
    "failure": BuildState.FAILED,
    "timed_out": BuildState.FAILED,
    "cancelled": BuildState.CANCELLED,
}
"""Any other conclusion (neutral, skipped, stale, action_required, startup_failure) is an
ERROR: the workflow did not give a verdict on the code."""


class GithubActionsBackend:
    name = "github-actions"
    shows_builds_at_once = False

    def __init__(self, api: ApiClient, *, owner: str, repo: str, workflow: str) -> None:
        self.api = api
        self._repo = f"/repos/{owner}/{repo}"
        self._workflow = workflow

    @classmethod
    def connect(
        cls,
        *,
        token: str,
        owner: str,
        repo: str,
        workflow: str,
        api_url: str = DEFAULT_API_URL,
        clock: Clock | None = None,
    ) -> GithubActionsBackend:
        api = ApiClient(api_url, token, name=cls.name, headers=HEADERS, clock=clock)
        return cls(api, owner=owner, repo=repo, workflow=workflow)

    async def find(self, branch: str, build_id: str) -> CiBuild | None:
        params = {"branch": branch, "event": "workflow_dispatch"}
        body = await self.api.call("GET", f"{self._repo}/actions/runs", params=params)
        runs = [r for r in (body or {}).get("workflow_runs", []) if r.get("head_branch") == branch]
        return _ci_build(runs[0]) if runs else None

    async def create(self, spec: CiBuildSpec) -> CiBuild | None:
        inputs = {"sq_build_id": spec.build_id}
        for name, key in (
            ("sq_command", "SQ_BUILD_COMMAND"),
            ("sq_base", "SQ_BASE"),
            ("sq_baseline", "SQ_BASELINE"),
        ):
            if spec.env.get(key):
                inputs[name] = spec.env[key]
        path = f"{self._repo}/actions/workflows/{self._workflow}/dispatches"
        await self.api.call("POST", path, json={"ref": spec.branch, "inputs": inputs})
        return await self.find(spec.branch, spec.build_id)

    async def get(self, handle: str) -> CiBuild:
        return _ci_build(await self.api.call("GET", f"{self._repo}/actions/runs/{handle}"))

    async def cancel(self, handle: str) -> None:
        try:
            await self.api.call("POST", f"{self._repo}/actions/runs/{handle}/cancel")
        except BuildRunnerRejectedError as exc:
            if exc.status_code != 409:  # 409: already finished, nothing to stop
                raise

    async def log(self, handle: str) -> str:
        body = await self.api.call("GET", f"{self._repo}/actions/runs/{handle}/jobs")
        jobs = (body or {}).get("jobs", [])
        if not jobs:
            return ""
        failed = [j for j in jobs if j.get("conclusion") == "failure"]
        job = (failed or jobs)[-1]
        return await self.api.text(f"{self._repo}/actions/jobs/{job['id']}/logs")

    async def close(self) -> None:
        await self.api.close()


def _ci_build(run: dict[str, Any]) -> CiBuild:
    status = str(run.get("status", ""))
    conclusion = str(run.get("conclusion") or "")
    if status == "completed":
        state = _CONCLUSIONS.get(conclusion, BuildState.ERROR)
    else:
        state = _STATUSES.get(status, BuildState.RUNNING)
    return CiBuild(
        handle=str(run.get("id")),
        state=state,
        reason=f"workflow run {run.get('id')} {conclusion or status}",
        web_url=str(run.get("html_url") or ""),
        created_at_ms=iso_ms(run.get("created_at")),
    )
