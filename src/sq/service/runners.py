"""Building the remote build runners a queue's `build:` section asks for (both domains)."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from sq.platform.build import buildkite, github_actions
from sq.platform.build.api_client import TokenError, read_token
from sq.platform.build.remote import CiBackend, OnFinish, RemoteBuildRunner
from sq.platform.clock import Clock
from sq.service.runtime import WiringError
from sq.service.settings_runners import DEFAULT_TOKEN_ENV, RemoteRunnerFields


class RunnerConfigError(WiringError):
    """A build runner that cannot start (its token is missing, say)."""


def remote_runner(
    *,
    queue: str,
    runner: str,
    build: RemoteRunnerFields,
    repository: str,
    timeout_s: float,
    workspace_dir: Path,
    clock: Clock,
    on_finish: OnFinish | None = None,
    environ: Mapping[str, str] | None = None,
) -> RemoteBuildRunner:
    env = os.environ if environ is None else environ
    token_env = build.token_env
    if token_env is None and build.token_file is None:
        token_env = DEFAULT_TOKEN_ENV[runner]
    try:
        token = read_token(env=token_env, file=build.token_file, environ=env)
    except TokenError as exc:
        raise RunnerConfigError(f"queue {queue!r}: build runner {runner}: {exc}") from None
    push_url = build.push_url or repository
    backend: CiBackend
    if runner == "buildkite":
        backend = buildkite.BuildkiteBackend.connect(
            token=token,
            organization=build.organization,
            pipeline=build.pipeline,
            api_url=build.api_url or buildkite.DEFAULT_API_URL,
            clock=clock,
        )
    else:
        owner_repo = build.github_repository(repository)
        if owner_repo is None:  # the settings refuse this; kept for callers that skip them
            raise RunnerConfigError(f"queue {queue!r}: github-actions needs build.owner/repo")
        backend = github_actions.GithubActionsBackend.connect(
            token=token,
            owner=owner_repo[0],
            repo=owner_repo[1],
            workflow=build.workflow,
            api_url=build.api_url or github_actions.DEFAULT_API_URL,
            clock=clock,
        )
    return RemoteBuildRunner(
        backend,
        workspace_dir=workspace_dir,
        push_url=push_url,
        ref_prefix=build.ref_prefix,
        default_timeout_s=timeout_s,
        clock=clock,
        on_finish=on_finish,
        git_env=_push_auth(queue, build, push_url, runner, token, env),
    )


def _push_auth(
    queue: str,
    build: RemoteRunnerFields,
    push_url: str,
    runner: str,
    api_token: str,
    environ: Mapping[str, str],
) -> dict[str, str]:
    """Git configuration, through the environment (never argv or a file), that sends a token
    with pushes over HTTP(S)."""
    if not push_url.startswith(("http://", "https://")):
        return {}
    if build.push_token_env is not None:
        token = environ.get(build.push_token_env, "").strip()
        if not token:
            raise RunnerConfigError(
                f"queue {queue!r}: environment variable {build.push_token_env} is not set"
            )
    elif runner == "github-actions":
        token = api_token
    else:
        return {}
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
    }


class RemoteRunnersCloser:
    """Closes the runners' API clients on stop. Their builds go on: the CI runs them, and any
    instance can poll or cancel them later."""

    def __init__(self, runners: Iterable[object]) -> None:
        unique = {id(r): r for r in runners if isinstance(r, RemoteBuildRunner)}
        self.remote = list(unique.values())

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        for runner in self.remote:
            await runner.close()
