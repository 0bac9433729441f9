"""Change URIs: the identity of one change (submitqueue-spec §2.10, fake markers §8.5).

URIs are compared everywhere as opaque strings, so exactly one spelling of each change is valid:
`parse` validates and never normalizes, and `str()` of the parsed value reproduces the input.

- `git://{host[:port]}/{repo...}/{percent-encoded fully-qualified ref}/{sha}`
- `github://{host[:port]}/{org...}/{repo}/pull/{number}/{head sha}` (pinned pull request)
- `https://{host}/{owner}/{repo}/pull/{number}` (a pull request as its web address, not pinned)
- `fake://{host}/{name...}` (a change that exists only for the fake provider, runner and merger)

Any of them may carry a query; `sq-files=a,b` declares changed paths and `sq-fake=<token>` asks a
fake component to fail (§8.5). Segments are percent-encoded the way a path segment is (`/` as
`%2F`, uppercase hex), the host is lowercase, a sha is 40 lowercase hex digits, and the whole URI
is at most 255 bytes of ASCII.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import quote, unquote, unquote_plus, urlsplit

MAX_URI_BYTES = 255

_SEGMENT_SAFE = "$&+:=@"  # what a path-segment escaper leaves alone besides unreserved chars
_SHA = re.compile(r"[0-9a-f]{40}")
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?")
_PORT = re.compile(r"[1-9][0-9]{0,4}")
_NUMBER = re.compile(r"[1-9][0-9]*")
_TOKEN = re.compile(r"[a-z0-9][a-z0-9-]*")
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?([^/:]+):(.+)$")


class ChangeURIError(ValueError):
    """A change URI is malformed or not in its canonical spelling."""


class ChangeKind(enum.StrEnum):
    GIT = "git"
    GITHUB = "github"
    FAKE = "fake"


@dataclass(frozen=True, slots=True, kw_only=True)
class Markers:
    """What a URI's query asks of fake components."""

    files: tuple[str, ...] = ()
    fake: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class GitChangeURI:
    host: str
    repo: str
    """Repository path; may contain `/`."""
    ref: str
    """Fully qualified ref the change lives on, e.g. `refs/heads/feature`."""
    sha: str
    query: str = ""

    kind = ChangeKind.GIT

    def __str__(self) -> str:
        path = "/".join([*map(_escape, self.repo.split("/")), _escape(self.ref), self.sha])
        return f"git://{self.host}/{path}{_query(self.query)}"

    @property
    def markers(self) -> Markers:
        return _markers(self.query)


@dataclass(frozen=True, slots=True, kw_only=True)
class GitHubChangeURI:
    host: str
    org: str
    """Owner; the `github://` form allows nested groups containing `/`."""
    repo: str
    number: int
    sha: str | None
    """Pinned head commit (`github://` form); None for the `https://` form."""
    query: str = ""

    kind = ChangeKind.GITHUB

    def __str__(self) -> str:
        path = "/".join([*map(_escape, self.org.split("/")), _escape(self.repo), "pull"])
        if self.sha is None:
            return f"https://{self.host}/{path}/{self.number}{_query(self.query)}"
        return f"github://{self.host}/{path}/{self.number}/{self.sha}{_query(self.query)}"

    @property
    def ref(self) -> str:
        return f"refs/pull/{self.number}/head"

    @property
    def markers(self) -> Markers:
        return _markers(self.query)


@dataclass(frozen=True, slots=True, kw_only=True)
class FakeChangeURI:
    host: str
    name: str
    """Free-form path naming the change; may contain `/`."""
    query: str = ""

    kind = ChangeKind.FAKE
    sha = None

    def __str__(self) -> str:
        path = "/".join(map(_escape, self.name.split("/")))
        return f"fake://{self.host}/{path}{_query(self.query)}"

    @property
    def markers(self) -> Markers:
        return _markers(self.query)


ChangeURI = GitChangeURI | GitHubChangeURI | FakeChangeURI


def parse(uri: str) -> ChangeURI:
    """Parse a change URI in its canonical spelling; raise ChangeURIError saying what is wrong."""
    try:
        parsed = _parse(uri)
    except ChangeURIError as exc:
        shown = uri if len(uri) <= 80 else uri[:77] + "..."
        raise ChangeURIError(f"invalid change URI {shown!r}: {exc}") from None
    if str(parsed) != uri:
        raise ChangeURIError(f"invalid change URI {uri!r}: not canonical (expected {parsed})")
    return parsed


def canonical(uri: str) -> str:
    """The canonical string of `uri` (what to store and compare); raises ChangeURIError."""
    return str(parse(uri))


def git_uri(*, host: str, repo: str, ref: str, sha: str, query: str = "") -> GitChangeURI:
    """A validated git change URI from its parts (`ref` unencoded, fully qualified)."""
    built = GitChangeURI(host=host, repo=repo, ref=ref, sha=sha, query=query)
    parsed = parse(str(built))
    assert isinstance(parsed, GitChangeURI)
    return parsed


def branch_head_uri(repository: str, branch: str, sha: str) -> GitChangeURI:
    """The git change URI of `branch` (`feature` or `refs/heads/feature`) at `sha` in
    `repository` (a URL, `user@host:path`, or a local path, whose host is `localhost`)."""
    host, repo = repository_location(repository)
    ref = branch if branch.startswith("refs/") else f"refs/heads/{branch}"
    return git_uri(host=host, repo=repo, ref=ref, sha=sha)


def repository_location(repository: str) -> tuple[str, str]:
    """The `(host, repo)` a git change URI uses for a repository URL or path."""
    scp = _SCP_LIKE.match(repository)
    if "://" in repository:
        split = urlsplit(repository)
        host = (split.hostname or "localhost").lower()
        if split.port is not None:
            host = f"{host}:{split.port}"
        path = split.path
    elif scp and "/" not in scp.group(1):
        host, path = scp.group(1).lower(), scp.group(2)
    else:
        host, path = "localhost", os.path.abspath(repository)
    repo = path.strip("/").removesuffix(".git").strip("/")
    if not repo:
        raise ChangeURIError(f"repository {repository!r} has no path")
    return host, repo


def short_name(uri: str) -> str:
    """A change as a person reads it in a table: `branch@sha12` (git), `org/repo#n` (GitHub),
    `name` plus its query (fake). Anything unparsable is returned whole."""
    try:
        parsed = parse(uri)
    except ChangeURIError:
        return uri
    if isinstance(parsed, GitChangeURI):
        branch = parsed.ref.removeprefix("refs/heads/")
        return f"{branch}@{parsed.sha[:12]}"
    if isinstance(parsed, GitHubChangeURI):
        pinned = f"@{parsed.sha[:12]}" if parsed.sha else ""
        return f"{parsed.org}/{parsed.repo}#{parsed.number}{pinned}"
    return parsed.name + (f"?{parsed.query}" if parsed.query else "")


def markers_of(uri: str) -> Markers:
    """The markers in `uri`'s query, without validating the rest (fake components use this)."""
    _, _, query = uri.partition("?")
    return _markers(query.partition("#")[0])


def first_fake_marker(uris: Sequence[str]) -> str | None:
    """The `sq-fake` token of the first URI that carries one (§8.5)."""
    for uri in uris:
        token = markers_of(uri).fake
        if token is not None:
            return token
    return None


# --- parsing ---------------------------------------------------------------------------------


def _parse(uri: str) -> ChangeURI:
    if not uri:
        raise ChangeURIError("empty")
    if not uri.isascii():
        raise ChangeURIError("non-ASCII characters must be percent-encoded")
    if len(uri) > MAX_URI_BYTES:
        raise ChangeURIError(f"longer than {MAX_URI_BYTES} bytes ({len(uri)})")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in uri):
        raise ChangeURIError("contains whitespace or control characters")
    scheme, sep, rest = uri.partition("://")
    if not sep:
        raise ChangeURIError("missing scheme (expected git://, github://, https:// or fake://)")
    if scheme != scheme.lower():
        raise ChangeURIError(f"scheme must be lowercase, got {scheme!r}")
    if "#" in rest:
        raise ChangeURIError("fragments are not allowed")
    rest, qmark, query = rest.partition("?")
    if qmark:
        _check_query(query)
    authority, slash, path = rest.partition("/")
    host = _check_host(authority)
    segments = _segments(path if slash else "")
    if scheme == "git":
        return _parse_git(host, segments, query)
    if scheme in ("github", "https"):
        return _parse_github(scheme, host, segments, query)
    if scheme == "fake":
        if not segments:
            raise ChangeURIError("fake URI needs a name after the host")
        _no_slash(segments)
        return FakeChangeURI(host=host, name="/".join(segments), query=query)
    raise ChangeURIError(f"unsupported scheme {scheme!r} (expected git, github, https or fake)")


def _parse_git(host: str, segments: list[str], query: str) -> GitChangeURI:
    if len(segments) < 3:
        raise ChangeURIError("git URI needs {repo}/{encoded ref}/{sha}")
    *repo, ref, sha = segments
    _no_slash(repo)
    _check_sha(sha)
    if not ref.startswith("refs/"):
        raise ChangeURIError(
            "ref must be one fully-qualified, percent-encoded segment (refs%2Fheads%2F...)"
        )
    _check_ref(ref)
    return GitChangeURI(host=host, repo="/".join(repo), ref=ref, sha=sha, query=query)


def _parse_github(scheme: str, host: str, segments: list[str], query: str) -> GitHubChangeURI:
    _no_slash(segments)
    pinned = scheme == "github"
    sha: str | None = segments.pop() if pinned and segments else None
    if sha is not None:
        _check_sha(sha)
    if len(segments) < 4 or segments[-2] != "pull":
        shape = "{org}/{repo}/pull/{number}" + ("/{sha}" if pinned else "")
        raise ChangeURIError(f"{scheme} URI needs {shape}")
    *org, repo, _, number = segments
    if not _NUMBER.fullmatch(number):
        raise ChangeURIError(f"pull request number must be a positive integer, got {number!r}")
    if not pinned and len(org) != 1:
        raise ChangeURIError("https pull request URI needs exactly {owner}/{repo}/pull/{number}")
    return GitHubChangeURI(
        host=host, org="/".join(org), repo=repo, number=int(number), sha=sha, query=query
    )


def _check_host(authority: str) -> str:
    if not authority:
        raise ChangeURIError("missing host")
    if "@" in authority:
        raise ChangeURIError("user information is not allowed in the host")
    host, colon, port = authority.partition(":")
    if host != host.lower():
        raise ChangeURIError(f"host must be lowercase, got {host!r}")
    if not _HOST.fullmatch(host):
        raise ChangeURIError(f"invalid host {host!r}")
    if colon and not (_PORT.fullmatch(port) and int(port) <= 65535):
        raise ChangeURIError(f"invalid port {port!r}")
    return authority


def _segments(path: str) -> list[str]:
    if not path:
        return []
    decoded: list[str] = []
    for raw in path.split("/"):
        if not raw:
            raise ChangeURIError("empty path segment (doubled or trailing '/')")
        try:
            value = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            raise ChangeURIError(f"segment {raw!r} does not decode as UTF-8") from None
        if _escape(value) != raw:
            expected = _escape(value)
            raise ChangeURIError(f"segment {raw!r} is not canonically encoded ({expected!r})")
        if value in (".", ".."):
            raise ChangeURIError(f"segment {raw!r} is not allowed")
        decoded.append(value)
    return decoded


def _no_slash(values: Sequence[str]) -> None:
    # Only a git ref may hold an encoded '/': anywhere else it would give one path two spellings.
    for value in values:
        if "/" in value:
            raise ChangeURIError(f"segment {_escape(value)!r} must not contain an encoded '/'")


def _check_sha(sha: str) -> None:
    if _SHA.fullmatch(sha):
        return
    if _SHA.fullmatch(sha.lower()):
        raise ChangeURIError("sha must be lowercase hex")
    raise ChangeURIError(f"sha must be 40 hex digits, got {sha!r}")


def _check_ref(ref: str) -> None:
    """The rules of `git check-ref-format` that matter for a fully-qualified ref."""
    parts = ref.split("/")
    bad = (
        ref == "refs/"
        or ref.endswith(("/", ".", ".lock"))
        or ".." in ref
        or "@{" in ref
        or _REF_FORBIDDEN.search(ref) is not None
        or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts)
    )
    if bad:
        raise ChangeURIError(f"{ref!r} is not a valid git ref name")


def _check_query(query: str) -> None:
    if not query:
        raise ChangeURIError("empty query ('?' with nothing after it)")
    fakes = 0
    for param in query.split("&"):
        key, eq, value = param.partition("=")
        if not key or not eq:
            raise ChangeURIError(f"query parameter {param!r} must be key=value")
        if key == "sq-fake":
            fakes += 1
            if not _TOKEN.fullmatch(value):
                raise ChangeURIError(
                    f"sq-fake token {value!r} must be lowercase letters, digits, -"
                )
        elif key == "sq-files":
            for path in _files(value):
                parts = path.split("/")
                if not path or path.startswith("/") or any(p in ("", ".", "..") for p in parts):
                    raise ChangeURIError(f"sq-files path {path!r} must be relative and normalized")
    if fakes > 1:
        raise ChangeURIError("more than one sq-fake marker")


def _markers(query: str) -> Markers:
    files: list[str] = []
    fake: str | None = None
    for param in query.split("&") if query else ():
        key, _, value = param.partition("=")
        if key == "sq-files":
            files.extend(p for p in _files(value) if p)
        elif key == "sq-fake" and fake is None and value:
            fake = value
    return Markers(files=tuple(files), fake=fake)


def _files(value: str) -> list[str]:
    return [unquote_plus(p) for p in value.split(",")]


def _escape(segment: str) -> str:
    return quote(segment, safe=_SEGMENT_SAFE)


def _query(query: str) -> str:
    return f"?{query}" if query else ""
