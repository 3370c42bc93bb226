"""The web UI: one page for every UI path, and the static files it loads.

The page's scripts route in the browser and read the registry through the JSON API only, so the
server knows nothing of the UI beyond which paths are its pages. Any other GET outside /api/ and
/ui/ gets the same page with status 404, and the page shows its own "not found"; /api/ and /ui/
keep the API's JSON errors.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Match, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

UI_DIR = Path(__file__).with_name("ui")

# Everything the page uses is served from here; the policy keeps it so (no CDN, no inline
# script), which also blunts any markup that slipped into a model's fields.
_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
# Scripts and styles are sent gzip-compressed to browsers that accept it (every one does): about
# a third of the bytes, which keeps each page far under its weight budget (tests/test_ui_weight.py).
_COMPRESS_FROM_BYTES = 1024
# Revalidate on every load (a cheap 304): a browser must not run an older script against a
# newer server after an upgrade.
_REVALIDATE = "no-cache"


class _UiFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = _REVALIDATE
        return response


async def _page(_request: Request) -> Response:
    return _index(200)


async def _unknown_page(_request: Request) -> Response:
    return _index(404)


def _index(status_code: int) -> Response:
    return FileResponse(
        UI_DIR / "index.html",
        status_code=status_code,
        headers={
            "Cache-Control": _REVALIDATE,
            "Content-Security-Policy": _CONTENT_SECURITY_POLICY,
        },
    )


class _UnknownPage(Route):
    """Any other GET path outside the API and the UI's files: the page, which says "not found".

    Other methods fall through to the router's JSON 404, as do /api/… and /ui/… paths."""

    _NOT_PAGES = ("/api/", "/ui/")

    def __init__(self) -> None:
        super().__init__("/{path:path}", _unknown_page, methods=["GET"])

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        path: str = scope.get("path", "")
        if scope.get("method") not in ("GET", "HEAD") or path.startswith(self._NOT_PAGES):
            return Match.NONE, {}
        return super().matches(scope)


def ui_routes() -> list[BaseRoute]:
    """The pages (their paths mirror the browser-side router in ui/js/main.js), /ui/ files and,
    last, the page for unknown paths."""
    return [
        Route("/", _page, methods=["GET"]),
        Route("/models/{name}", _page, methods=["GET"]),
        Route("/models/{name}/versions/{version}", _page, methods=["GET"]),
        Route("/models/{name}/compare", _page, methods=["GET"]),
        Route("/deleted", _page, methods=["GET"]),
        Mount(
            "/ui",
            app=GZipMiddleware(_UiFiles(directory=UI_DIR), minimum_size=_COMPRESS_FROM_BYTES),
        ),
        _UnknownPage(),
    ]
