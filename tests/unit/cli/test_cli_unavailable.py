"""`sq land` against a gateway whose database refuses connections: one line that says the
command can be retried, and exit 3 (unreachable), not a traceback."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest
from click.testing import CliRunner
from fastapi import APIRouter

from sq.platform.db import create_engine
from sq.service.access import Access
from sq.service.cli import cli
from sq.service.cli.common import EXIT_UNREACHABLE
from sq.service.http import build_app
from sq.submitqueue.client.http import GatewayClient
from support.databases import refused_postgres_url


def test_land_on_an_unavailable_gateway_says_it_can_be_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with refused_postgres_url() as url:
        engine = create_engine(url)
        router = APIRouter()

        @router.post("/api/v1/requests")
        def land() -> None:
            engine.connect()

        app = build_app([router], ready=lambda: True, access=Access())
        real_init = GatewayClient.__init__

        def over_asgi(self: GatewayClient, base_url: str, **kwargs: Any) -> None:
            real_init(self, base_url, transport=httpx2.ASGITransport(app=app))

        monkeypatch.setattr(GatewayClient, "__init__", over_asgi)
        args = ["land", "-q", "demo", "fake://example.com/a", "--addr", "127.0.0.1:9"]
        result = CliRunner().invoke(cli, args)
        engine.dispose()
    assert result.exit_code == EXIT_UNREACHABLE, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "`sq land` can be retried" in line
