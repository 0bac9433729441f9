"""Which GitHub repository a configured repository URL names (`https://host/owner/repo[.git]`)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True, kw_only=True)
class RepositoryName:
    host: str
    """Lowercase host with its port when one is given (`github.com`, `127.0.0.1:8123`)."""
    owner: str
    repo: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


def repository_name(url: str) -> RepositoryName:
    """`owner/repo` of an http(s) repository URL; ValueError for anything else."""
    split = urlsplit(url)
    if split.scheme not in ("http", "https") or not split.hostname:
        raise ValueError(f"a GitHub repository is an http(s) URL, not {url!r}")
    parts = [p for p in split.path.split("/") if p]
    if len(parts) != 2:
        raise ValueError(f"a GitHub repository URL is https://HOST/OWNER/REPO, not {url!r}")
    host = split.hostname.lower() + (f":{split.port}" if split.port is not None else "")
    return RepositoryName(host=host, owner=parts[0], repo=parts[1].removesuffix(".git"))
