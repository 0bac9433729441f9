"""A provider that reads everything from the URI: `sq-files=` paths, `sq-fake=provider-error`."""

from __future__ import annotations

from sq.platform.changeuri import first_fake_marker, markers_of
from sq.submitqueue.entity.request import ChangedFile, ChangeInfo, Request
from sq.submitqueue.extension.changeprovider import ChangeProviderError


class FakeChangeProvider:
    """Each path of `sq-files=` counts as one added line; no commits, no author."""

    async def get(self, request: Request) -> list[ChangeInfo]:
        if first_fake_marker(request.uris) == "provider-error":
            raise ChangeProviderError(f"fake provider: injected error for {request.id}")
        return [
            ChangeInfo(
                uri=uri,
                files=tuple(ChangedFile(path=p, lines_added=1) for p in markers_of(uri).files),
            )
            for uri in request.uris
        ]
