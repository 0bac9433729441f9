"""The `projects:` section of a Stovepipe queue, and how the service wires it."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sq.service.settings_stovepipe import StovepipeSettings
from sq.service.stovepipe import _mapper, _setup

QUEUE = {"name": "monorepo/main", "source_control": "fake"}


def settings(*projects: dict[str, object], **queue: object) -> StovepipeSettings:
    return StovepipeSettings.model_validate(
        {"queues": [{**QUEUE, **queue, "projects": list(projects)}]}
    )


def test_projects_become_setup_and_a_mapper() -> None:
    parsed = settings(
        {"name": "a", "paths": ["a/"], "build": {"command": "make -C a"}},
        {"name": "b", "paths": ["b", "shared/**"], "promotion_ref": "refs/heads/verified-b"},
    )
    queue = parsed.queues[0]
    setup = _setup(queue)
    assert [(p.name, p.command) for p in setup.projects] == [("a", "make -C a"), ("b", "")]
    assert _mapper(queue).affected(["shared/x/y", "a/z"]) == {"a", "b"}


@pytest.mark.parametrize(
    "projects",
    [
        [{"name": "a", "paths": ["a/"]}, {"name": "a", "paths": ["b/"]}],
        [{"name": "a", "paths": []}],
        [{"name": "a/b", "paths": ["a/"]}],
        [{"name": "a", "paths": ["a/"], "build": {"command": ""}}],
        [{"name": "a", "paths": ["a/"], "unknown": 1}],
        [{"name": "a", "paths": ["a/"], "promotion_ref": "refs/heads/verified"}],
    ],
)
def test_bad_projects_are_refused(projects: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        settings(*projects, promotion_ref="refs/heads/verified")
