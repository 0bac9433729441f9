"""The `sq` client commands send `Authorization: Bearer $SQ_TOKEN` (the gateway commands and the
light `hooks` and `stovepipe` groups alike); a refused token exits 2 with the server's reason."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from sq.service.access import Access, Scope
from sq.service.cli import cli
from sq.service.cli import client as _client_commands  # noqa: F401
from sq.service.cli.hooks import hooks
from sq.service.hooks_api import HookRegistry, hooks_router
from sq.service.http import HttpServer, build_app
from sq.service.settings import Settings
from sq.service.settings_auth import AuthSettings, TokenSource
from sq.service.stack import LocalStack

pytestmark = pytest.mark.anyio


async def invoke(command: Any, args: list[str], token: str | None) -> Result:
    env = {"SQ_TOKEN": token}
    return await asyncio.to_thread(CliRunner().invoke, command, args, env=env)


@pytest.fixture
async def hooks_addr() -> AsyncIterator[str]:
    access = Access.of([("reader", Scope.READ), ("boss", Scope.ADMIN)])
    app = build_app([hooks_router(HookRegistry())], ready=lambda: True, access=access)
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        await server.stop()


async def test_the_light_commands_send_sq_token(hooks_addr: str) -> None:
    listed = await invoke(hooks, ["undeliverable", "--json", "--addr", hooks_addr], "reader")
    assert (listed.exit_code, json.loads(listed.output)) == (0, [])

    anonymous = await invoke(hooks, ["undeliverable", "--addr", hooks_addr], None)
    assert anonymous.exit_code == 2
    assert "needs an Authorization: Bearer token (unauthorized)" in anonymous.output

    replay = ["replay", "some/event", "--addr", hooks_addr]
    too_weak = await invoke(hooks, replay, "reader")
    assert too_weak.exit_code == 2
    assert "(forbidden)" in too_weak.output
    admin = await invoke(hooks, replay, "boss")
    assert admin.exit_code == 1
    assert "no undeliverable hook event" in admin.output


async def test_the_gateway_commands_send_sq_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQ_TEST_CLI_WRITE", "writer")
    settings = Settings(
        data_dir=tmp_path / "data",
        auth=AuthSettings(tokens=[TokenSource(env="SQ_TEST_CLI_WRITE", scope=Scope.WRITE)]),
    )
    stack = LocalStack(settings, ["gateway"], "127.0.0.1", 0)
    await stack.http.start()
    try:
        land = ["land", "-q", "demo", "fake://example.com/a", "--addr", stack.address]
        landed = await invoke(cli, land, "writer")
        assert landed.exit_code == 0, landed.output
        assert landed.output.strip().endswith("demo/1")
        refused = await invoke(cli, ["status", "demo/1", "--addr", stack.address], "wrong")
        assert refused.exit_code == 2
        assert "not accepted" in refused.output
        assert "wrong" not in refused.output
    finally:
        await stack.http.stop()
        await stack.close()
