"""The stand-in's HTTP server and state (see the package docstring)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import subprocess
import threading
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from support.fake_github.git_http import is_git_path, run_http_backend

API = "/api/v3"
_PULL = re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/(\d+)$")
_FILES = re.compile(r"^/repos/([^/]+)/([^/]+)/pulls/(\d+)/files$")
_STATUS = re.compile(r"^/repos/([^/]+)/([^/]+)/statuses/([0-9a-f]{40})$")
_COMMENT = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$")
_PERMISSION = re.compile(r"^/repos/([^/]+)/([^/]+)/collaborators/([^/]+)/permission$")


@dataclass
class FakePull:
    owner: str
    repo: str
    number: int
    head_branch: str
    base: str = "main"
    user: str = "alice"
    draft: bool = False
    state: str = "open"
    merged: bool = False
    mergeable: bool | None = True
    labels: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Recorded:
    kind: str
    """`status`, `comment` or `close`."""
    owner: str
    repo: str
    target: str
    """The sha (status) or the pull request number (comment, close)."""
    body: dict[str, Any]


class FakeGitHub:
    def __init__(self, root: Path, *, token: str, webhook_secret: str = "") -> None:
        self.root = root
        self.token = token
        self.webhook_secret = webhook_secret
        self.webhook_url = ""
        self.pulls: dict[tuple[str, str, int], FakePull] = {}
        self.recorded: list[Recorded] = []
        self.permissions: dict[str, str] = {}
        self.faults: list[tuple[int, dict[str, str]]] = []
        """Answers to give the next API calls instead of the real one (status, headers)."""
        self.calls: list[str] = []
        self.webhook_answers: list[tuple[str, int, str]] = []
        self.per_page_cap = 100
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._senders: list[threading.Thread] = []

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        for sender in self._senders:
            sender.join(timeout=30)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.url + API

    def repository_url(self, owner: str, repo: str) -> str:
        return f"{self.url}/{owner}/{repo}"

    # --- repositories and pull requests ----------------------------------------------------

    def serve_repo(self, owner: str, repo: str, bare: Path) -> None:
        """Serve the bare repository `bare` as `OWNER/REPO` (pushes allowed)."""
        link = self.root / owner / f"{repo}.git"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(bare.resolve(), target_is_directory=True)
        _git(bare, "config", "http.receivepack", "true")

    def bare(self, owner: str, repo: str) -> Path:
        return self.root / owner / f"{repo}.git"

    def open_pull(self, owner: str, repo: str, head_branch: str, **fields: Any) -> FakePull:
        with self._lock:
            number = 1 + max((n for (o, r, n) in self.pulls if (o, r) == (owner, repo)), default=0)
            pull = FakePull(
                owner=owner, repo=repo, number=number, head_branch=head_branch, **fields
            )
            self.pulls[(owner, repo, number)] = pull
        self._update_pull_ref(pull)
        return pull

    def head_sha(self, pull: FakePull) -> str:
        return _git(self.bare(pull.owner, pull.repo), "rev-parse", f"refs/pull/{pull.number}/head")

    def branch_sha(self, owner: str, repo: str, branch: str) -> str:
        return _git(self.bare(owner, repo), "rev-parse", f"refs/heads/{branch}")

    def synchronize(self, pull: FakePull) -> None:
        """The head branch moved: move `refs/pull/N/head` and tell the webhook."""
        before = self.head_sha(pull)
        self._update_pull_ref(pull)
        self.send_later("pull_request", self._pull_event(pull, "synchronize", before=before))

    def label(self, pull: FakePull, name: str) -> None:
        pull.labels.append(name)
        self.send_later("pull_request", self._pull_event(pull, "labeled", label=name))

    def unlabel(self, pull: FakePull, name: str) -> None:
        pull.labels.remove(name)
        self.send_later("pull_request", self._pull_event(pull, "unlabeled", label=name))

    def comment(self, pull: FakePull, user: str, body: str) -> tuple[int, str]:
        payload = {
            "action": "created",
            "issue": {"number": pull.number, "pull_request": {"url": ""}},
            "comment": {"body": body, "user": {"login": user}},
            "repository": {"full_name": f"{pull.owner}/{pull.repo}"},
            "sender": {"login": user},
        }
        return self.send("issue_comment", payload)

    def recorded_of(self, kind: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.recorded if r.kind == kind]

    # --- webhooks --------------------------------------------------------------------------

    def send(
        self, event: str, payload: dict[str, Any], *, delivery: str | None = None
    ) -> tuple[int, str]:
        """POST one signed webhook to `webhook_url`; returns the answer's status and body."""
        body = json.dumps(payload).encode()
        digest = hmac.new(self.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        request = urllib.request.Request(
            self.webhook_url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": event,
                "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
                "X-Hub-Signature-256": f"sha256={digest}",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = (response.status, response.read().decode())
        except urllib.error.HTTPError as exc:
            answer = (exc.code, exc.read().decode())
        with self._lock:
            self.webhook_answers.append((event, *answer))
        return answer

    def send_later(self, event: str, payload: dict[str, Any]) -> None:
        """Send from a thread of its own, as GitHub does after answering the API call."""
        if not self.webhook_url:
            return
        sender = threading.Thread(target=self.send, args=(event, payload), daemon=True)
        self._senders.append(sender)
        sender.start()

    def _pull_event(self, pull: FakePull, action: str, **extra: str) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "action": action,
            "number": pull.number,
            "pull_request": self._pull_json(pull),
            "repository": {"full_name": f"{pull.owner}/{pull.repo}"},
            "sender": {"login": pull.user},
        }
        if "label" in extra:
            payload["label"] = {"name": extra["label"]}
        if "before" in extra:
            payload["before"] = extra["before"]
            payload["after"] = self.head_sha(pull)
        return payload

    # --- REST ------------------------------------------------------------------------------

    def _update_pull_ref(self, pull: FakePull) -> None:
        bare = self.bare(pull.owner, pull.repo)
        sha = _git(bare, "rev-parse", f"refs/heads/{pull.head_branch}")
        _git(bare, "update-ref", f"refs/pull/{pull.number}/head", sha)

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        return {
            "number": pull.number,
            "state": pull.state,
            "draft": pull.draft,
            "merged": pull.merged,
            "mergeable": pull.mergeable,
            "head": {"sha": self.head_sha(pull), "ref": pull.head_branch},
            "base": {"ref": pull.base},
            "user": {"login": pull.user},
            "labels": [{"name": n} for n in pull.labels],
            "html_url": f"{self.repository_url(pull.owner, pull.repo)}/pull/{pull.number}",
        }

    def _files(self, pull: FakePull) -> list[dict[str, Any]]:
        bare = self.bare(pull.owner, pull.repo)
        head = self.head_sha(pull)
        base = _git(bare, "merge-base", f"refs/heads/{pull.base}", head)
        out = _git(bare, "diff", "--numstat", base, head)
        files = []
        for line in out.splitlines():
            added, deleted, path = line.split("\t", 2)
            files.append(
                {
                    "filename": path,
                    "additions": int(added) if added != "-" else 0,
                    "deletions": int(deleted) if deleted != "-" else 0,
                }
            )
        return files

    def api(
        self, method: str, path: str, query: dict[str, list[str]], body: dict[str, Any]
    ) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            self.calls.append(f"{method} {path}")
            if self.faults:
                status, headers = self.faults.pop(0)
                return status, {"message": f"injected {status}"}, headers
        if (m := _PULL.match(path)) and method == "GET":
            return 200, self._pull_json(self._pull(m)), {}
        if (m := _PULL.match(path)) and method == "PATCH":
            pull = self._pull(m)
            if body.get("state") == "closed" and pull.state == "open":
                pull.state = "closed"
                self._record("close", m, body)
                self.send_later("pull_request", self._pull_event(pull, "closed"))
            return 200, self._pull_json(pull), {}
        if (m := _FILES.match(path)) and method == "GET":
            return self._files_page(m, query)
        if (m := _STATUS.match(path)) and method == "POST":
            self._record("status", m, body)
            return 201, body, {}
        if (m := _COMMENT.match(path)) and method == "GET":
            with self._lock:
                bodies = [
                    {"body": r.body["body"]}
                    for r in self.recorded
                    if r.kind == "comment" and (r.owner, r.repo, r.target) == m.groups()
                ]
            return 200, bodies, {}
        if (m := _COMMENT.match(path)) and method == "POST":
            self._record("comment", m, body)
            return 201, body, {}
        if (m := _PERMISSION.match(path)) and method == "GET":
            return 200, {"permission": self.permissions.get(m.group(3), "read")}, {}
        return 404, {"message": "Not Found"}, {}

    def _files_page(
        self, m: re.Match[str], query: dict[str, list[str]]
    ) -> tuple[int, Any, dict[str, str]]:
        files = self._files(self._pull(m))
        per_page = min(int(query.get("per_page", ["30"])[0]), self.per_page_cap)
        page = int(query.get("page", ["1"])[0])
        chunk = files[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(files):
            nxt = f"{self.api_url}{m.group(0)}?per_page={per_page}&page={page + 1}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        return 200, chunk, headers

    def _pull(self, m: re.Match[str]) -> FakePull:
        key = (m.group(1), m.group(2), int(m.group(3)))
        if key not in self.pulls:
            raise LookupError(key)
        return self.pulls[key]

    def _record(self, kind: str, m: re.Match[str], body: dict[str, Any]) -> None:
        with self._lock:
            self.recorded.append(Recorded(kind, m.group(1), m.group(2), m.group(3), dict(body)))

    def authorized(self, header: str, *, git: bool) -> bool:
        if git:
            expected = base64.b64encode(f"x-access-token:{self.token}".encode()).decode()
            return header == f"Basic {expected}"
        return header == f"Bearer {self.token}"


def _handler(hub: FakeGitHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().strip().split(b";")[0], 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))

        def _answer(self, status: int, body: bytes, headers: list[tuple[str, str]]) -> None:
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _serve(self) -> None:
            split = urlsplit(self.path)
            body = self._body()
            auth = self.headers.get("Authorization", "")
            if is_git_path(split.path):
                if not hub.authorized(auth, git=True):
                    self._answer(401, b"", [("WWW-Authenticate", 'Basic realm="fake"')])
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                cgi = run_http_backend(
                    hub.root,
                    method=self.command,
                    path=split.path,
                    query=split.query,
                    headers=headers,
                    body=body,
                )
                self._answer(cgi.status, cgi.body, cgi.headers)
                return
            if not split.path.startswith(API):
                self._answer(404, b"", [])
                return
            if not hub.authorized(auth, git=False):
                self._json(401, {"message": "Bad credentials"}, {})
                return
            try:
                data = json.loads(body) if body else {}
                status, out, headers = hub.api(
                    self.command, split.path[len(API) :], parse_qs(split.query), data
                )
            except LookupError:
                status, out, headers = 404, {"message": "Not Found"}, {}
            self._json(status, out, headers)

        def _json(self, status: int, data: Any, headers: dict[str, str]) -> None:
            body = json.dumps(data).encode()
            self._answer(status, body, [("Content-Type", "application/json"), *headers.items()])

        do_GET = do_POST = do_PATCH = _serve  # noqa: N815  (http.server dispatches on these names)

    return Handler


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()
