from __future__ import annotations

from pathlib import Path

import pytest

from sq.platform.config import ConfigError, load_settings
from sq.service.settings import Settings


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(Settings, tmp_path / "sq.yaml")
    assert settings.port == 8080
    assert settings.queue_url().endswith(".sq/queue.db")


def test_the_environment_wins_over_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "sq.yaml"
    path.write_text("port: 9000\nmq:\n  poll_interval_ms: 250\n  retention_ms: 5\n")
    monkeypatch.setenv("SQ_MQ__POLL_INTERVAL_MS", "50")
    settings = load_settings(Settings, path)
    assert settings.port == 9000
    assert settings.mq.poll_interval_ms == 50
    assert settings.mq.retention_ms == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("port: [1]\n", "port:"),
        ("mq: {poll_interval_ms: 0}\n", "mq.poll_interval_ms: Input should be greater than 0"),
        ("nonsense: 1\n", "nonsense: Extra inputs are not permitted"),
        ("- a list\n", "the top level must be a mapping"),
        ("port: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_configuration_is_named_precisely(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "sq.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_settings(Settings, path)


def test_a_named_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(Settings, tmp_path / "other.yaml")


def test_a_file_that_cannot_be_read_as_text_is_named(tmp_path: Path) -> None:
    """A directory and a non-UTF-8 file were tracebacks (IsADirectoryError, UnicodeDecodeError)."""
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"dir\.yaml: cannot be read: Is a directory"):
        load_settings(Settings, tmp_path / "dir.yaml")
    (tmp_path / "bad.yaml").write_bytes(b"\xff\xfe port: 1\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not UTF-8 text"):
        load_settings(Settings, tmp_path / "bad.yaml")


def test_a_nested_environment_override_that_is_not_json_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SQ_MQ", "garbage")
    with pytest.raises(ConfigError, match='environment: error parsing value for field "mq"'):
        load_settings(Settings, tmp_path / "sq.yaml")
