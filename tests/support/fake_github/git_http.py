"""Git's smart HTTP protocol for the stand-in: `git http-backend` run as a CGI per request."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CgiResponse:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def is_git_path(path: str) -> bool:
    return path.endswith(("/info/refs", "/git-upload-pack", "/git-receive-pack"))


def run_http_backend(
    root: Path,
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes,
) -> CgiResponse:
    """Answer one smart-HTTP request for the bare repositories under `root` (`OWNER/REPO.git`)."""
    owner, repo, rest = _split(path)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "GIT_PROJECT_ROOT": str(root),
        "GIT_HTTP_EXPORT_ALL": "1",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "REQUEST_METHOD": method,
        "PATH_INFO": f"/{owner}/{repo}.git/{rest}",
        "QUERY_STRING": query,
        "CONTENT_TYPE": headers.get("content-type", ""),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": "sq",
        "REMOTE_ADDR": "127.0.0.1",
    }
    if headers.get("content-encoding"):
        env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
    if headers.get("git-protocol"):
        env["GIT_PROTOCOL"] = headers["git-protocol"]
    done = subprocess.run(
        ["git", "http-backend"], input=body, env=env, capture_output=True, timeout=120, check=False
    )
    head, _, payload = done.stdout.partition(b"\r\n\r\n")
    if not _ and b"\n\n" in done.stdout:
        head, _, payload = done.stdout.partition(b"\n\n")
    status = 200
    out: list[tuple[str, str]] = []
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            out.append((name.strip(), value.strip()))
    return CgiResponse(status=status, headers=out, body=payload)


def _split(path: str) -> tuple[str, str, str]:
    parts = path.strip("/").split("/")
    owner, repo = parts[0], parts[1].removesuffix(".git")
    return owner, repo, "/".join(parts[2:])
