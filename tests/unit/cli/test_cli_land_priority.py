"""`sq land --priority`: passed to the gateway; a value outside the lanes is refused (exit 2)."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner

from sq.service.cli import cli
from sq.submitqueue.client.http import GatewayClient


def test_land_sends_the_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[str | None] = []

    async def land(
        self: GatewayClient, queue: str, uris: list[str], strategy: str | None, priority: str
    ) -> dict[str, Any]:
        sent.append(priority)
        return {"id": f"{queue}/1", "change_uris": uris}

    monkeypatch.setattr(GatewayClient, "land", land)
    args = ["land", "-q", "demo", "fake://example.com/a", "--addr", "127.0.0.1:9"]
    result = CliRunner().invoke(cli, [*args, "--priority", "high"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert sent == ["high", "normal"]


def test_land_refuses_an_unknown_priority() -> None:
    args = ["land", "-q", "demo", "fake://example.com/a", "--priority", "urgent"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
