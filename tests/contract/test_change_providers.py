"""Every change provider through the same behaviour: what each change of a request touches, in
order, with its commits when it has history; a change that cannot be landed is refused."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from sq.platform.changeuri import GitChangeURI, GitHubChangeURI, branch_head_uri, parse
from sq.platform.git.credentials import forget_http_tokens, register_http_token
from sq.platform.git.sandbox import GitSandbox
from sq.platform.github import GitHubClient
from sq.submitqueue.entity.request import Request, RequestID
from sq.submitqueue.extension.changeprovider import ChangeProvider, ChangeProviderError
from sq.submitqueue.extension.changeprovider.fake import FakeChangeProvider
from sq.submitqueue.extension.changeprovider.git import GitChangeProvider
from sq.submitqueue.extension.changeprovider.github import GitHubChangeProvider
from support.fake_github import FakeGitHub

pytestmark = pytest.mark.anyio
TOKEN = "contract-token"


@dataclass
class World:
    provider: ChangeProvider
    change: Callable[[str, dict[str, str]], str]
    """A change named `name` that touches `files`; its URI."""
    unlandable: Callable[[str], str]
    """A change that the provider must refuse; its URI."""
    has_history: bool


def _fake_world() -> World:
    def change(name: str, files: dict[str, str]) -> str:
        return f"fake://example.com/{name}?sq-files={quote(','.join(files), safe=',')}"

    return World(
        provider=FakeChangeProvider(),
        change=change,
        unlandable=lambda name: f"fake://example.com/{name}?sq-fake=provider-error",
        has_history=False,
    )


def _git_world(tmp_path: Path) -> World:
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n"})

    def uri(name: str, sha: str) -> str:
        return str(branch_head_uri(str(box.origin), name, sha))

    def change(name: str, files: dict[str, str]) -> str:
        box.checkout(name, "main")
        box.commit(f"{name}: edit", files)
        box.push(name)
        return uri(name, box.head())

    return World(
        provider=GitChangeProvider(
            repository=str(box.origin), target="refs/heads/main", workspace=tmp_path / "workspace"
        ),
        change=change,
        unlandable=lambda name: uri(name, "0" * 40),  # a commit the repository does not have
        has_history=True,
    )


@pytest.fixture(params=["fake", "git", "github"])
async def world(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[World]:
    if request.param == "fake":
        yield _fake_world()
        return
    if request.param == "git":
        yield _git_world(tmp_path)
        return
    box = GitSandbox(tmp_path / "box")
    box.seed({"README.md": "hello\n"})
    hub = FakeGitHub(tmp_path / "hub", token=TOKEN).start()
    hub.serve_repo("acme", "web", box.origin)
    client = GitHubClient(hub.api_url, TOKEN)
    register_http_token(f"{hub.url}/acme/", TOKEN)
    host = hub.url.removeprefix("http://")

    def change(name: str, files: dict[str, str]) -> str:
        box.checkout(name, "main")
        box.commit(f"{name}: edit", files)
        box.push(name)
        pull = hub.open_pull("acme", "web", name)
        return str(
            GitHubChangeURI(
                host=host, org="acme", repo="web", number=pull.number, sha=hub.head_sha(pull)
            )
        )

    def unlandable(name: str) -> str:
        uri = change(name, {f"{name}.txt": "x\n"})
        hub.pulls[("acme", "web", len(hub.pulls))].state = "closed"
        return uri

    try:
        yield World(
            provider=GitHubChangeProvider(
                client=client,
                repository=hub.repository_url("acme", "web"),
                target="refs/heads/main",
                workspace=tmp_path / "workspace",
            ),
            change=change,
            unlandable=unlandable,
            has_history=True,
        )
    finally:
        await client.close()
        forget_http_tokens()
        hub.stop()


def _request(*uris: str) -> Request:
    return Request(id=RequestID("q/1"), queue="q", uris=tuple(uris))


async def test_each_change_is_described_in_order_with_the_paths_it_touches(world: World) -> None:
    a = world.change("a", {"src/a.py": "a\n", "docs/a.md": "a\n"})
    b = world.change("b", {"src/b.py": "b\n"})
    infos = await world.provider.get(_request(a, b))
    assert [i.uri for i in infos] == [a, b]
    assert {f.path for f in infos[0].files} == {"src/a.py", "docs/a.md"}
    assert {f.path for f in infos[1].files} == {"src/b.py"}
    assert all(f.lines_added >= 1 for i in infos for f in i.files)


async def test_a_change_with_history_names_its_own_commits(world: World) -> None:
    uri = world.change("c", {"c.txt": "c\n"})
    (info,) = await world.provider.get(_request(uri))
    if world.has_history:
        assert len(info.commits) == 1
        assert all(len(c) == 40 for c in info.commits)
    else:
        assert info.commits == ()


async def test_a_change_that_cannot_land_is_refused(world: World) -> None:
    good = world.change("d", {"d.txt": "d\n"})
    bad = world.unlandable("e")
    with pytest.raises(ChangeProviderError):
        await world.provider.get(_request(good, bad))


async def test_a_git_uri_naming_another_repository_is_refused(tmp_path: Path) -> None:
    """Its commit was looked up in the queue's repository and landed there: a URI for
    `git://localhost/etc/...` whose sha the queue's repository also had landed as if it were
    the queue's own."""
    world = _git_world(tmp_path)
    ours = _git_uri(world.change("f", {"f.txt": "f\n"}))
    elsewhere = dataclasses.replace(ours, repo="etc")
    with pytest.raises(ChangeProviderError, match="names repository localhost/etc"):
        await world.provider.get(_request(str(elsewhere)))
    on_another_host = dataclasses.replace(ours, host="example.com")
    with pytest.raises(ChangeProviderError, match="this queue lands into localhost/"):
        await world.provider.get(_request(str(on_another_host)))
    (info,) = await world.provider.get(_request(str(ours)))
    assert info.uri == str(ours)


def _git_uri(uri: str) -> GitChangeURI:
    parsed = parse(uri)
    assert isinstance(parsed, GitChangeURI)
    return parsed
