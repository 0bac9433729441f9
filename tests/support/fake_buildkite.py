"""A local Buildkite: the REST API v2 endpoints the Buildkite runner calls, over `FakeCi`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from support.fake_ci import CiRun, CiState, FakeCi

_BUILDS = "/v2/organizations/{org}/pipelines/{pipeline}/builds"


class FakeBuildkite(FakeCi):
    def __init__(
        self,
        repository: Path,
        *,
        token: str,
        organization: str = "acme",
        pipeline: str = "ci",
        default_command: str = "./ci.sh",
    ) -> None:
        super().__init__(repository, token=token, default_command=default_command)
        self.organization, self.pipeline = organization, pipeline
        self.app.get(_BUILDS)(self._list)
        self.app.post(_BUILDS)(self._create)
        self.app.get(_BUILDS + "/{number}")(self._get)
        self.app.put(_BUILDS + "/{number}/cancel")(self._cancel)
        self.app.get(_BUILDS + "/{number}/jobs/{job}/log")(self._log)

    def _known(self, org: str, pipeline: str) -> bool:
        return (org, pipeline) == (self.organization, self.pipeline)

    async def _list(self, org: str, pipeline: str, branch: str = "") -> JSONResponse:
        if not self._known(org, pipeline):
            return _not_found()
        runs = [r for r in self.runs.values() if not branch or r.branch == branch]
        return JSONResponse([self._body(r) for r in reversed(runs)])

    async def _create(self, org: str, pipeline: str, request: Request) -> JSONResponse:
        if not self._known(org, pipeline):
            return _not_found()
        body = await request.json()
        sha = self.resolve(str(body.get("commit", "")))
        if sha is None or not body.get("branch"):
            return JSONResponse({"message": "Validation Failed: commit not found"}, 422)
        run = self.create(
            sha=sha,
            branch=str(body["branch"]),
            env={str(k): str(v) for k, v in (body.get("env") or {}).items()},
            meta={str(k): str(v) for k, v in (body.get("meta_data") or {}).items()},
        )
        return JSONResponse(self._body(run), 201)

    async def _get(self, org: str, pipeline: str, number: int) -> JSONResponse:
        run = self.runs.get(number)
        if not self._known(org, pipeline) or run is None:
            return _not_found()
        return JSONResponse(self._body(run))

    async def _cancel(self, org: str, pipeline: str, number: int) -> JSONResponse:
        run = self.runs.get(number)
        if not self._known(org, pipeline) or run is None:
            return _not_found()
        if not await self.cancel_on_ci(number, by="api"):
            return JSONResponse({"message": "Build can't be canceled because it's finished"}, 422)
        return JSONResponse(self._body(run))

    async def _log(self, org: str, pipeline: str, number: int, job: str) -> JSONResponse:
        run = self.runs.get(number)
        if not self._known(org, pipeline) or run is None or job != f"job-{number}":
            return _not_found()
        return JSONResponse({"content": run.log, "size": len(run.log)})

    def _body(self, run: CiRun) -> dict[str, Any]:
        job_state = {CiState.CANCELED: "canceled"}.get(run.state, run.state.value)
        return {
            "id": f"build-{run.number}",
            "number": run.number,
            "state": run.state.value,
            "branch": run.branch,
            "commit": run.sha,
            "env": run.env,
            "meta_data": run.meta,
            "created_at": run.created_at,
            "web_url": f"{self.url}/{self.organization}/{self.pipeline}/builds/{run.number}",
            "jobs": [{"id": f"job-{run.number}", "type": "script", "state": job_state}],
        }


def _not_found() -> JSONResponse:
    return JSONResponse({"message": "No build found"}, 404)
