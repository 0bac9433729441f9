from __future__ import annotations

import dataclasses

import pytest

from sq.platform.changeuri import (
    ChangeKind,
    ChangeURIError,
    FakeChangeURI,
    GitChangeURI,
    GitHubChangeURI,
    Markers,
    branch_head_uri,
    canonical,
    first_fake_marker,
    git_uri,
    markers_of,
    parse,
    repository_location,
    short_name,
)

SHA = "0123456789abcdef0123456789abcdef01234567"

ACCEPTED = [
    (
        f"git://git.example.com/sandbox/refs%2Fheads%2Ffeature/{SHA}",
        GitChangeURI(host="git.example.com", repo="sandbox", ref="refs/heads/feature", sha=SHA),
    ),
    (
        f"git://localhost:9418/org/team/repo/refs%2Fheads%2Fuser%2Ffix+1@x/{SHA}",
        GitChangeURI(
            host="localhost:9418", repo="org/team/repo", ref="refs/heads/user/fix+1@x", sha=SHA
        ),
    ),
    (
        f"git://h/r/refs%2Ftags%2Fv1.0/{SHA}?sq-files=a%2Fb.txt,c.txt&sq-fake=build-fail",
        GitChangeURI(
            host="h",
            repo="r",
            ref="refs/tags/v1.0",
            sha=SHA,
            query="sq-files=a%2Fb.txt,c.txt&sq-fake=build-fail",
        ),
    ),
    (
        f"github://github.com/uber/submitqueue/pull/12/{SHA}",
        GitHubChangeURI(host="github.com", org="uber", repo="submitqueue", number=12, sha=SHA),
    ),
    (
        f"github://ghe.corp:8443/group/sub/repo/pull/7/{SHA}",
        GitHubChangeURI(host="ghe.corp:8443", org="group/sub", repo="repo", number=7, sha=SHA),
    ),
    (
        "https://github.com/uber/submitqueue/pull/12",
        GitHubChangeURI(host="github.com", org="uber", repo="submitqueue", number=12, sha=None),
    ),
    ("fake://demo/change-1", FakeChangeURI(host="demo", name="change-1")),
    (
        "fake://demo/team/change~2?sq-files=src/a.py,docs/b.md&sq-fake=merge-conflict",
        FakeChangeURI(
            host="demo",
            name="team/change~2",
            query="sq-files=src/a.py,docs/b.md&sq-fake=merge-conflict",
        ),
    ),
]


@pytest.mark.parametrize(("uri", "expected"), ACCEPTED)
def test_accepted_forms_parse_and_round_trip(uri: str, expected: object) -> None:
    parsed = parse(uri)
    assert parsed == expected
    assert str(parsed) == uri
    assert canonical(uri) == uri


def test_kinds_and_pull_request_refs() -> None:
    assert parse(ACCEPTED[0][0]).kind is ChangeKind.GIT
    github = parse(ACCEPTED[3][0])
    assert github.kind is ChangeKind.GITHUB
    assert isinstance(github, GitHubChangeURI)
    assert github.ref == "refs/pull/12/head"
    assert parse("fake://demo/x").kind is ChangeKind.FAKE
    assert parse("fake://demo/x").sha is None


def test_values_are_frozen() -> None:
    parsed = parse(ACCEPTED[0][0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.sha = "0" * 40  # type: ignore[misc]


def test_markers() -> None:
    assert parse(ACCEPTED[2][0]).markers == Markers(files=("a/b.txt", "c.txt"), fake="build-fail")
    assert parse(ACCEPTED[0][0]).markers == Markers()
    assert markers_of("anything://at/all?x=1&sq-fake=score-error") == Markers(fake="score-error")
    uris = ["fake://d/a", "fake://d/b?sq-fake=build-fail", "fake://d/c?sq-fake=trigger-error"]
    assert first_fake_marker(uris) == "build-fail"
    assert first_fake_marker(uris[:1]) is None


REJECTED = [
    ("", "empty"),
    ("git.example.com/r", "missing scheme"),
    ("ftp://h/r", "unsupported scheme 'ftp'"),
    ("GIT://h/r", "scheme must be lowercase"),
    (f"git://Git.example.com/r/refs%2Fheads%2Fx/{SHA}", "host must be lowercase"),
    (f"git:///r/refs%2Fheads%2Fx/{SHA}", "missing host"),
    (f"git://bad_host/r/refs%2Fheads%2Fx/{SHA}", "invalid host 'bad_host'"),
    (f"git://h:99999/r/refs%2Fheads%2Fx/{SHA}", "invalid port '99999'"),
    (f"git://me@h/r/refs%2Fheads%2Fx/{SHA}", "user information is not allowed"),
    (f"git://h/r/refs/heads/x/{SHA}", "ref must be one fully-qualified, percent-encoded segment"),
    (f"git://h/r/heads%2Fx/{SHA}", "ref must be one fully-qualified"),
    (f"git://h/r/refs%2fheads%2fx/{SHA}", "is not canonically encoded ('refs%2Fheads%2Fx')"),
    (f"git://h/r/refs%2F/{SHA}", "'refs/' is not a valid git ref name"),
    (f"git://h/r/refs%2Fheads%2Fa..b/{SHA}", "'refs/heads/a..b' is not a valid git ref name"),
    (f"git://h/r/refs%2Fheads%2Fx.lock/{SHA}", "is not a valid git ref name"),
    (f"git://h/r/refs%2Fheads%2F%5Bx/{SHA}", "is not a valid git ref name"),
    (f"git://h/r/refs%2Fheads%2Fx/{SHA.upper()}", "sha must be lowercase hex"),
    (f"git://h/r/refs%2Fheads%2Fx/{SHA[:-1]}", "sha must be 40 hex digits"),
    (f"git://h/r/refs%2Fheads%2Fx/{SHA[:-1]}g", "sha must be 40 hex digits"),
    (f"git://h/refs%2Fheads%2Fx/{SHA}", "git URI needs {repo}/{encoded ref}/{sha}"),
    (f"git://h/r/refs%2Fheads%2Fx/{SHA}/", "empty path segment"),
    (f"git://h//r/refs%2Fheads%2Fx/{SHA}", "empty path segment"),
    (f"git://h/a%2Fb/refs%2Fheads%2Fx/{SHA}", "must not contain an encoded '/'"),
    (f"git://h/./refs%2Fheads%2Fx/{SHA}", "segment '.' is not allowed"),
    (f"git://h/r%ff/refs%2Fheads%2Fx/{SHA}", "does not decode as UTF-8"),
    (f"git://h/r/refs%2Fheads%2Fx/{SHA}#top", "fragments are not allowed"),
    (f"git://h/r/refs%2Fheads%2Fx/{SHA}?", "empty query"),
    (f"git://h/r/refs%2Fheads%2Fx/{SHA}?flag", "must be key=value"),
    (f"git://h/{'r' * 200}/refs%2Fheads%2Fx/{SHA}", "longer than 255 bytes"),
    ("fake://demo/caf\u00e9", "non-ASCII characters must be percent-encoded"),
    ("fake://demo/a b", "contains whitespace or control characters"),
    ("fake://demo", "fake URI needs a name"),
    ("fake://demo/%7Ex", "is not canonically encoded ('~x')"),
    ("fake://demo/x?sq-fake=Build", "sq-fake token 'Build'"),
    ("fake://demo/x?sq-fake=a&sq-fake=b", "more than one sq-fake marker"),
    ("fake://demo/x?sq-files=../etc/passwd", "sq-files path '../etc/passwd' must be relative"),
    ("fake://demo/x?sq-files=/abs", "must be relative"),
    ("https://github.com/uber/sq/pull/x", "pull request number must be a positive integer"),
    (f"github://github.com/uber/sq/pull/0/{SHA}", "must be a positive integer, got '0'"),
    (f"github://github.com/uber/sq/pull/01/{SHA}", "must be a positive integer, got '01'"),
    (f"github://github.com/uber/sq/pulls/1/{SHA}", "github URI needs {org}/{repo}/pull/{number}"),
    ("github://github.com/uber/sq/pull/1", "sha must be 40 hex digits"),
    (f"https://github.com/uber/sq/pull/1/{SHA}", "https URI needs {org}/{repo}/pull/{number}"),
    ("https://github.com/a/b/sq/pull/1", "exactly {owner}/{repo}/pull/{number}"),
    ("https://github.com/uber/pull/1", "https URI needs {org}/{repo}/pull/{number}"),
]


@pytest.mark.parametrize(("uri", "message"), REJECTED)
def test_rejected_with_a_precise_message(uri: str, message: str) -> None:
    with pytest.raises(ChangeURIError) as caught:
        parse(uri)
    text = str(caught.value)
    assert message in text
    assert text.startswith("invalid change URI ")
    assert "\n" not in text
    with pytest.raises(ChangeURIError):
        canonical(uri)


def test_change_uri_error_is_a_value_error() -> None:
    assert issubclass(ChangeURIError, ValueError)


def test_git_uri_encodes_the_ref() -> None:
    uri = git_uri(host="h", repo="a/b", ref="refs/heads/feature/x", sha=SHA)
    assert str(uri) == f"git://h/a/b/refs%2Fheads%2Ffeature%2Fx/{SHA}"
    with pytest.raises(ChangeURIError, match="not a valid git ref"):
        git_uri(host="h", repo="r", ref="refs/heads/a b", sha=SHA)


@pytest.mark.parametrize(
    ("repository", "location"),
    [
        ("/srv/git/monorepo.git", ("localhost", "srv/git/monorepo")),
        ("file:///srv/git/monorepo.git", ("localhost", "srv/git/monorepo")),
        ("git@github.com:uber/submitqueue.git", ("github.com", "uber/submitqueue")),
        ("https://GitHub.com/uber/submitqueue", ("github.com", "uber/submitqueue")),
        ("ssh://git@git.corp:2222/team/repo.git", ("git.corp:2222", "team/repo")),
    ],
)
def test_repository_location(repository: str, location: tuple[str, str]) -> None:
    assert repository_location(repository) == location


def test_branch_head_uri() -> None:
    uri = branch_head_uri("/srv/git/monorepo.git", "feature/x", SHA)
    assert str(uri) == f"git://localhost/srv/git/monorepo/refs%2Fheads%2Ffeature%2Fx/{SHA}"
    qualified = branch_head_uri("git@github.com:uber/sq.git", "refs/heads/main", SHA)
    assert qualified.ref == "refs/heads/main"
    assert parse(str(qualified)) == qualified
    with pytest.raises(ChangeURIError, match="sha must be lowercase"):
        branch_head_uri("/srv/repo.git", "main", SHA.upper())


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        (
            "git://localhost/srv/repo/refs%2Fheads%2Ffeature%2Fx/" + "a" * 40,
            "feature/x@" + "a" * 12,
        ),
        ("git://h/r/refs%2Ftags%2Fv1/" + "b" * 40, "refs/tags/v1@" + "b" * 12),
        ("https://github.com/acme/app/pull/12", "acme/app#12"),
        ("fake://demo/change-1?sq-fake=build-fail", "change-1?sq-fake=build-fail"),
        ("not a uri", "not a uri"),
    ],
)
def test_short_names_for_tables(uri: str, shown: str) -> None:
    assert short_name(uri) == shown
