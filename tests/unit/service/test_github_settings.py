"""`provider: github` in sq.yaml: accepted with its keys, refused with a one-line reason when its
repository or secrets are wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sq.service.github.clients import GitHubConfigError, read_token, read_webhook_secret
from sq.service.settings_github import GitHubConfig
from sq.service.settings_submitqueue import QueueConfig


def _queue(**fields: object) -> QueueConfig:
    values: dict[str, object] = {
        "name": "web",
        "provider": "github",
        "repository": "https://github.com/acme/web",
    }
    return QueueConfig.model_validate({**values, **fields})


def test_a_github_queue_is_accepted_with_the_default_keys() -> None:
    queue = _queue()
    assert queue.github is not None
    assert queue.github.api_url == "https://api.github.com"
    assert queue.github.token_env == "SQ_GITHUB_TOKEN"
    assert queue.github.label == "sq-land"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"repository": "/srv/git/web.git"}, "an http\\(s\\) URL"),
        ({"repository": "https://github.com/acme"}, "OWNER/REPO"),
        ({"github": {"api_url": "ftp://x"}}, "an http\\(s\\) URL"),
        ({"github": {"token_env": "NOT A NAME"}}, "environment variable name"),
        ({"github": {"webhook_secret_env": "A", "webhook_secret_file": "/f"}}, "not both"),
        ({"provider": "git", "github": {}}, "need provider github"),
    ],
)
def test_a_wrong_github_queue_is_refused_saying_why(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        _queue(**fields)


def test_secrets_come_from_the_named_variable_or_file_and_their_absence_is_one_line(
    tmp_path: Path,
) -> None:
    queue = _queue(github={"token_env": "T", "webhook_secret_env": "S"})
    assert read_token(queue, {"T": " tok \n"}) == "tok"
    with pytest.raises(GitHubConfigError, match="environment variable T") as caught:
        read_token(queue, {})
    assert "\n" not in str(caught.value)
    assert read_webhook_secret(queue, {"S": "s"}) == "s"
    assert read_webhook_secret(_queue(), {}) is None
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    from_file = _queue(github=GitHubConfig(token_file=str(secret)).model_dump())
    assert read_token(from_file, {}) == "from-file"
    missing = _queue(github={"token_file": str(tmp_path / "absent")})
    with pytest.raises(GitHubConfigError, match="cannot read the token file"):
        read_token(missing, {})
