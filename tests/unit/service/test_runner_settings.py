"""`build.runner: buildkite | github-actions` in both domains' queues: the keys each needs, the
token from the environment or a file, and a one-line refusal when it is missing."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sq.platform.build.remote import RemoteBuildRunner
from sq.service.orchestrator import build_orchestrator
from sq.service.runners import RemoteRunnersCloser, RunnerConfigError
from sq.service.runtime import Runtime
from sq.service.settings import Settings
from sq.service.stovepipe import build as build_stovepipe

BUILDKITE = {"runner": "buildkite", "organization": "acme", "pipeline": "web-ci"}
ACTIONS = {"runner": "github-actions", "workflow": "ci.yml"}


def submitqueue(
    tmp_path: Path, build: dict[str, object], repository: str = "/srv/r.git"
) -> Settings:
    queue = {"name": "main", "provider": "git", "repository": repository, "build": build}
    return Settings.model_validate({"data_dir": tmp_path, "submitqueue": {"queues": [queue]}})


def stovepipe(tmp_path: Path, build: dict[str, object], repository: str = "/srv/r.git") -> Settings:
    queue = {"name": "mono", "repository": repository, "build": build}
    return Settings.model_validate({"data_dir": tmp_path, "stovepipe": {"queues": [queue]}})


@pytest.mark.parametrize("domain", [submitqueue, stovepipe])
def test_both_remote_runners_are_accepted_in_both_domains(domain, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    domain(tmp_path, BUILDKITE)
    domain(tmp_path, {**ACTIONS, "owner": "acme", "repo": "web"})
    domain(tmp_path, ACTIONS, repository="https://github.com/acme/web.git")


@pytest.mark.parametrize(
    ("build", "repository", "problem"),
    [
        ({"runner": "buildkite", "pipeline": "p"}, "/r.git", "needs build.organization"),
        ({"runner": "buildkite", "organization": "o"}, "/r.git", "needs build.pipeline"),
        ({"runner": "github-actions", "owner": "o", "repo": "r"}, "/r.git", "build.workflow"),
        (ACTIONS, "/srv/r.git", "needs build.owner and build.repo"),
        ({**BUILDKITE, "token_env": "A", "token_file": "/f"}, "/r.git", "not both"),
        ({**BUILDKITE, "token_env": "not a name"}, "/r.git", "not a variable name"),
        ({**BUILDKITE, "ref_prefix": "sq/"}, "/r.git", "ref_prefix"),
    ],
)
def test_what_a_remote_runner_lacks_is_named(
    build: dict[str, object], repository: str, problem: str, tmp_path: Path
) -> None:
    for domain in (submitqueue, stovepipe):
        with pytest.raises(ValidationError, match=problem):
            domain(tmp_path, build, repository)


def test_a_missing_token_stops_the_wiring_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SQ_BUILDKITE_TOKEN", raising=False)
    runtime = Runtime(submitqueue(tmp_path, BUILDKITE))
    try:
        with pytest.raises(RunnerConfigError) as raised:
            build_orchestrator(runtime)
    finally:
        runtime.dispose()
    assert str(raised.value) == (
        "queue 'main': build runner buildkite: environment variable SQ_BUILDKITE_TOKEN is not set"
    )


def test_an_empty_token_file_is_refused_too(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("\n")
    runtime = Runtime(stovepipe(tmp_path, {**BUILDKITE, "token_file": str(token)}))
    try:
        with pytest.raises(RunnerConfigError, match="is empty"):
            build_stovepipe(runtime)
    finally:
        runtime.dispose()


@pytest.mark.anyio
@pytest.mark.parametrize("build", [BUILDKITE, {**ACTIONS, "owner": "acme", "repo": "web"}])
async def test_each_domain_wires_the_remote_runner_with_the_token_from_its_file(
    build: dict[str, object], tmp_path: Path
) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken\n")
    for settings, wire in (
        (submitqueue(tmp_path / "sq", {**build, "token_file": str(token)}), build_orchestrator),
        (stovepipe(tmp_path / "sp", {**build, "token_file": str(token)}), build_stovepipe),
    ):
        runtime = Runtime(settings)
        try:
            parts = wire(runtime)
            [closer] = [c for c in parts.components if isinstance(c, RemoteRunnersCloser)]
            [runner] = closer.remote
            assert isinstance(runner, RemoteBuildRunner)
            assert runner.backend.name == build["runner"]
            await closer.stop()
        finally:
            await runtime.queue.close()
            runtime.dispose()
