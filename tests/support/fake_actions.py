"""A local GitHub Actions: the REST endpoints the GitHub Actions runner calls, over `FakeCi`.

A dispatch builds the commit its branch points at when dispatched. The workflow declares the inputs
in `inputs` (others are refused with 422, as GitHub does). A new run shows up in the run list only
after `hidden_lists` list calls, as a run does on GitHub a moment after its dispatch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from support.fake_ci import CiRun, CiState, FakeCi

_REPO = "/repos/{owner}/{repo}"
DECLARED_INPUTS = frozenset({"sq_build_id", "sq_command", "sq_base", "sq_baseline"})


class FakeActions(FakeCi):
    def __init__(
        self,
        repository: Path,
        *,
        token: str,
        owner: str = "acme",
        repo: str = "web",
        workflow: str = "ci.yml",
        default_command: str = "./ci.sh",
        hidden_lists: int = 0,
    ) -> None:
        super().__init__(repository, token=token, default_command=default_command)
        self.owner, self.repo, self.workflow = owner, repo, workflow
        self.inputs = set(DECLARED_INPUTS)
        self.hidden_lists = hidden_lists
        self._seen_lists: dict[int, int] = {}
        app = self.app
        app.post(_REPO + "/actions/workflows/{workflow}/dispatches")(self._dispatch)
        app.get(_REPO + "/actions/runs")(self._list)
        app.get(_REPO + "/actions/runs/{run_id}")(self._get)
        app.post(_REPO + "/actions/runs/{run_id}/cancel")(self._cancel)
        app.get(_REPO + "/actions/runs/{run_id}/jobs")(self._jobs)
        app.get(_REPO + "/actions/jobs/{job_id}/logs")(self._job_logs)
        app.get("/_logs/{run_id}")(self._raw_log)

    def _known(self, owner: str, repo: str) -> bool:
        return (owner, repo) == (self.owner, self.repo)

    async def _dispatch(self, owner: str, repo: str, workflow: str, request: Request) -> Response:
        if not self._known(owner, repo) or workflow != self.workflow:
            return _not_found()
        body = await request.json()
        inputs = {str(k): str(v) for k, v in (body.get("inputs") or {}).items()}
        unexpected = sorted(set(inputs) - self.inputs)
        if unexpected:
            return JSONResponse({"message": f"Unexpected inputs provided: {unexpected}"}, 422)
        branch = str(body.get("ref", "")).removeprefix("refs/heads/")
        sha = self.resolve(f"refs/heads/{branch}")
        if sha is None:
            return JSONResponse({"message": f"No ref found for: {branch}"}, 422)
        env = {"SQ_BUILD_ID": inputs.get("sq_build_id", "")}
        for name, key in (("sq_command", "SQ_BUILD_COMMAND"), ("sq_baseline", "SQ_BASELINE")):
            if name in inputs:
                env[key] = inputs[name]
        run = self.create(sha=sha, branch=branch, env=env, meta={})
        self._seen_lists[run.number] = 0
        return Response(status_code=204)

    async def _list(self, owner: str, repo: str, branch: str = "", event: str = "") -> JSONResponse:
        if not self._known(owner, repo):
            return _not_found()
        shown = []
        for run in reversed(list(self.runs.values())):
            if branch and run.branch != branch:
                continue
            if event and event != "workflow_dispatch":
                continue
            self._seen_lists[run.number] = self._seen_lists.get(run.number, 0) + 1
            if self._seen_lists[run.number] > self.hidden_lists:
                shown.append(self._body(run))
        return JSONResponse({"total_count": len(shown), "workflow_runs": shown})

    async def _get(self, owner: str, repo: str, run_id: int) -> JSONResponse:
        run = self.runs.get(run_id)
        if not self._known(owner, repo) or run is None:
            return _not_found()
        return JSONResponse(self._body(run))

    async def _cancel(self, owner: str, repo: str, run_id: int) -> JSONResponse:
        run = self.runs.get(run_id)
        if not self._known(owner, repo) or run is None:
            return _not_found()
        if not await self.cancel_on_ci(run_id, by="api"):
            return JSONResponse({"message": "Cannot cancel a workflow run that is completed."}, 409)
        return JSONResponse({}, 202)

    async def _jobs(self, owner: str, repo: str, run_id: int) -> JSONResponse:
        run = self.runs.get(run_id)
        if not self._known(owner, repo) or run is None:
            return _not_found()
        status, conclusion = _status(run)
        job = {"id": run.number, "run_id": run.number, "status": status, "conclusion": conclusion}
        return JSONResponse({"total_count": 1, "jobs": [job]})

    async def _job_logs(self, owner: str, repo: str, job_id: int) -> Response:
        if not self._known(owner, repo) or job_id not in self.runs:
            return _not_found()
        return RedirectResponse(f"{self.url}/_logs/{job_id}", 302)

    async def _raw_log(self, run_id: int) -> Response:
        run = self.runs.get(run_id)
        return PlainTextResponse(run.log if run else "", 200 if run else 404)

    def _body(self, run: CiRun) -> dict[str, Any]:
        status, conclusion = _status(run)
        return {
            "id": run.number,
            "name": self.workflow,
            "head_branch": run.branch,
            "head_sha": run.sha,
            "event": "workflow_dispatch",
            "status": status,
            "conclusion": conclusion,
            "created_at": run.created_at,
            "html_url": f"{self.url}/{self.owner}/{self.repo}/actions/runs/{run.number}",
        }


def _status(run: CiRun) -> tuple[str, str | None]:
    if run.state is CiState.SCHEDULED:
        return "queued", None
    if run.state is CiState.RUNNING:
        return "in_progress", None
    conclusion = {CiState.PASSED: "success", CiState.FAILED: "failure"}.get(run.state, "cancelled")
    return "completed", conclusion


def _not_found() -> JSONResponse:
    return JSONResponse({"message": "Not Found"}, 404)
