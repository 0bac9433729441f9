"""The ChangeProvider seam: what each change of a request touches, and its commits (spec §6.1)."""

from __future__ import annotations

from typing import Protocol

from sq.submitqueue.entity.request import ChangeInfo, Request


class ChangeProviderError(Exception):
    """The provider cannot describe a change (unknown commit, no shared history, bad URI).

    Not retryable: the request is refused (through the validate stage's DLQ reconciler).
    """


class ChangeProvider(Protocol):
    """Describes every change URI of a request.

    Returns one `ChangeInfo` per URI, in the request's order (a stack's later URIs are measured
    against the earlier ones, so sizes are not double counted). May block on the network or on
    git; it is awaited from the validate stage. Raises `ChangeProviderError` for a change it
    cannot describe, and a `RetryableError` for a transient failure.
    """

    async def get(self, request: Request) -> list[ChangeInfo]: ...
