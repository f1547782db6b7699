"""The built front end (web/dist, `npm run build` in web/): the staff console at /app, the chat
widget at /widget.js and its demo page at /widget-demo.

When web/dist is missing (the front end was never built, e.g. `python -m graph.main` from a bare
checkout), these paths answer 503 with how to build it; the API itself is unaffected.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

WEB_DIST = Path(__file__).resolve().parents[1] / "web" / "dist"

# The console loads only its own hashed scripts and styles and talks only to its own origin
# (fetch and the websocket: CSP Level 3 'self' covers ws:/wss: on the same host).
CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# The demo page embeds the widget, whose shadow root carries its styles in a <style> element.
DEMO_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_PAGE_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def _not_built() -> Response:
    return PlainTextResponse(
        "The web front end is not built: run `make run`, or `npm ci && npm run build` in web/.",
        status_code=503,
    )


def _page(path: Path, csp: str) -> Response:
    if not path.is_file():
        return _not_built()
    return FileResponse(
        path, media_type="text/html", headers={**_PAGE_HEADERS, "Content-Security-Policy": csp}
    )


def web_routes(dist: Path = WEB_DIST) -> list[BaseRoute]:
    async def console(_: Request) -> Response:
        return _page(dist / "app" / "index.html", CONSOLE_CSP)

    async def console_root(_: Request) -> Response:
        return RedirectResponse("/app/", status_code=308)

    async def widget(_: Request) -> Response:
        path = dist / "widget.js"
        if not path.is_file():
            return _not_built()
        # Embedded by other origins' pages: a classic script needs no CORS, but must not be
        # blocked by a cross-origin resource policy.
        headers = {
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
            "Cross-Origin-Resource-Policy": "cross-origin",
        }
        return FileResponse(path, media_type="text/javascript", headers=headers)

    async def demo(_: Request) -> Response:
        return _page(dist / "widget-demo.html", DEMO_CSP)

    async def demo_css(_: Request) -> Response:
        path = dist / "widget-demo.css"
        return FileResponse(path, media_type="text/css") if path.is_file() else _not_built()

    return [
        Route("/app", console_root),
        Route("/app/", console),
        # Hashed file names: cached for good.
        Mount("/app/assets", _ImmutableFiles(directory=dist / "app" / "assets", check_dir=False)),
        Route("/widget.js", widget),
        Route("/widget-demo", demo),
        Route("/widget-demo.css", demo_css),
    ]


class _ImmutableFiles(StaticFiles):
    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response
