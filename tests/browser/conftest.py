"""Browser tests: Debian's chromium driven by Playwright against a real server (`python -m
graph.main` with the demo data, as `make run` starts it) serving the built front end.

They skip, with the reason, only when /usr/bin/chromium is missing (`apt-get install chromium`;
.ci/run installs it). Playwright's own browser downloads are never used.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.e2e.conftest import _database
from tests.services import backends
from tests.support.server import REPO_ROOT, ServerProcess

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WEB_DIST = REPO_ROOT / "web" / "dist"

NO_CHROMIUM = f"{CHROMIUM} is missing: `apt-get install -y chromium` to run the browser tests"


def skip_without_chromium() -> None:
    """Called at the top of each browser test module: a clean skip with the reason."""
    if not CHROMIUM.exists():
        pytest.skip(NO_CHROMIUM, allow_module_level=True)


@dataclass
class ForeignSite:
    """Another origin's page embedding the widget from `api` (set once Stamm listens)."""

    server: ThreadingHTTPServer
    api: str = ""

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def _foreign_site() -> ForeignSite:
    site: ForeignSite

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = (
                "<!doctype html><html lang='en'><head><title>A counselling service</title></head>"
                "<body><h1>Another site</h1>"
                f"<stamm-chat-widget endpoint='{site.api}/graphql'></stamm-chat-widget>"
                f"<script src='{site.api}/widget.js'></script></body></html>"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    site = ForeignSite(ThreadingHTTPServer(("127.0.0.1", 0), Page))
    threading.Thread(target=site.server.serve_forever, daemon=True).start()
    return site


@pytest.fixture(scope="module")
def allowed_site() -> Iterator[ForeignSite]:
    site = _foreign_site()
    yield site
    site.server.shutdown()


@pytest.fixture(scope="module")
def other_site() -> Iterator[ForeignSite]:
    """A second origin, not in STAMM_ALLOWED_ORIGINS."""
    site = _foreign_site()
    yield site
    site.server.shutdown()


@pytest.fixture(scope="module", params=backends())
def stamm(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    allowed_site: ForeignSite,
    other_site: ForeignSite,
) -> Iterator[ServerProcess]:
    """The service with the demo data on a new database, allowing `allowed_site`'s origin."""
    assert (WEB_DIST / "widget.js").is_file() and (WEB_DIST / "app" / "index.html").is_file(), (
        "web/dist is not built: `make web` (or `npm ci && npm run build` in web/)"
    )
    folder = tmp_path_factory.mktemp("browser")
    for database_url in _database(request.param, folder):
        settings = {
            "DATABASE_URL": database_url,
            "BROADCAST_URL": request.param.bus_url,
            "STAMM_DEMO": "1",
            "STAMM_MIGRATE": "1",
            "STAMM_DATA_DIR": str(folder),
            "STAMM_SECRET_KEY": secrets.token_urlsafe(32),
            "STAMM_DATA_KEY": base64.b64encode(secrets.token_bytes(32)).decode(),
            "STAMM_ALLOWED_ORIGINS": allowed_site.origin,
        }
        server = ServerProcess("browser", settings, folder / "server.log")
        server.start()
        allowed_site.api = other_site.api = server.base_url
        try:
            yield server
        finally:
            server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import expect, sync_playwright

    # Bounds a failure only (a loaded CI machine); every wait ends as soon as the DOM changes.
    expect.set_options(timeout=15_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def new_page(browser: Browser) -> Iterator[Callable[..., Page]]:
    """`new_page(locale)`: a page in a browser context of its own (own storage, own session).

    At the end, no page may have logged a Content-Security-Policy violation: the console and the
    demo page run under the CSP graph/web.py sends.
    """
    contexts = []
    violations: list[str] = []

    def make(locale: str = "de-DE") -> Page:
        context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 860})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                violations.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        return page

    yield make
    for context in contexts:
        context.close()
    assert not violations, violations


@pytest.fixture
def screenshots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where the walk-through saves its screenshots: --screenshots, else the test's tmp folder."""
    chosen = request.config.getoption("--screenshots", default=None)
    folder = Path(chosen) if chosen else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder
