"""`sq serve`'s decision about the address, without serving: a public address with no token is
refused (exit 2) unless `--insecure`; loopback, or any configured token, needs no flag."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sq.service.cli import serve as serve_module

PUBLIC = "0.0.0.0"


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hosts: list[str] = []

    async def pretend_to_run(settings: Any, wanted: list[str], host: str, port: int) -> int:
        hosts.append(host)
        return 0

    monkeypatch.setattr(serve_module, "_run", pretend_to_run)
    monkeypatch.setattr(serve_module, "configure_logging", lambda *_: None)
    for name in ("SQ_ADMIN_TOKENS", "SQ_WRITE_TOKENS", "SQ_READ_TOKENS"):
        monkeypatch.delenv(name, raising=False)
    return hosts


def serve(tmp_path: Path, *args: str) -> Any:
    config = ["--config", str(tmp_path / "sq.yaml"), "--data-dir", str(tmp_path / "data")]
    return CliRunner().invoke(serve_module.serve, [*config, *args])


def test_a_public_address_without_tokens_exits_2_without_starting(
    tmp_path: Path, started: list[str]
) -> None:
    result = serve(tmp_path, "--host", PUBLIC)
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0" in result.output
    assert started == []


def test_insecure_lets_a_public_address_start_without_tokens(
    tmp_path: Path, started: list[str]
) -> None:
    result = serve(tmp_path, "--host", PUBLIC, "--insecure")
    assert result.exit_code == 0, result.output
    assert started == [PUBLIC]


def test_loopback_or_a_configured_token_needs_no_flag(
    tmp_path: Path, started: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert serve(tmp_path).exit_code == 0
    monkeypatch.setenv("SQ_WRITE_TOKENS", "t")
    assert serve(tmp_path, "--host", PUBLIC).exit_code == 0
    assert started == ["127.0.0.1", PUBLIC]


def test_the_host_in_the_configuration_is_checked_too(tmp_path: Path, started: list[str]) -> None:
    (tmp_path / "sq.yaml").write_text(f"host: {PUBLIC}\n")
    assert serve(tmp_path).exit_code == 2
    assert started == []
