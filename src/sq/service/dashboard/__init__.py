"""The web dashboard `sq serve` hosts at `/ui/`: static HTML, CSS and JavaScript shipped in the
package (no CDN), which polls the JSON APIs of the services in this process.

The page itself carries no data, so it is served without a token; every call it makes for data
goes through the API with the token the user typed (kept in the tab's sessionStorage), under the
same scopes as any client (doc/security.md).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, RedirectResponse

STATIC = Path(__file__).parent / "static"
PREFIX = "/ui"
_FILES = {
    "": ("index.html", "text/html; charset=utf-8"),
    "index.html": ("index.html", "text/html; charset=utf-8"),
    "app.js": ("app.js", "text/javascript; charset=utf-8"),
    "style.css": ("style.css", "text/css; charset=utf-8"),
}


def dashboard_router() -> APIRouter:
    router = APIRouter(include_in_schema=False)

    @router.get(PREFIX)
    async def home() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")

    for name, (file, media_type) in _FILES.items():

        def serve(file: str = file, media_type: str = media_type) -> FileResponse:
            return FileResponse(
                STATIC / file, media_type=media_type, headers={"Cache-Control": "no-cache"}
            )

        router.get(f"{PREFIX}/{name}")(serve)
    return router
