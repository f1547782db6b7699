"""Serving the built front end (graph/web.py): the console with its CSP, the widget embeddable
from other origins, and a clear 503 when web/dist was never built."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from graph.web import CONSOLE_CSP, web_routes


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    (tmp_path / "app" / "assets").mkdir(parents=True)
    (tmp_path / "app" / "index.html").write_text("<!doctype html><title>console</title>")
    (tmp_path / "app" / "assets" / "index-abc.js").write_text("console.log(1)")
    (tmp_path / "widget.js").write_text("customElements.define('x', class extends HTMLElement {})")
    (tmp_path / "widget-demo.html").write_text("<!doctype html><title>demo</title>")
    return tmp_path


async def get(dist: Path, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=Starlette(routes=web_routes(dist)))
    async with httpx.AsyncClient(transport=transport, base_url="http://stamm.test") as http:
        return await http.get(path)


async def test_the_console_is_served_with_its_content_security_policy(dist: Path) -> None:
    response = await get(dist, "/app/")
    assert response.status_code == 200
    assert "console" in response.text
    assert response.headers["content-security-policy"] == CONSOLE_CSP
    assert "script-src 'self'" in CONSOLE_CSP and "frame-ancestors 'none'" in CONSOLE_CSP
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_app_without_a_slash_redirects_to_the_console(dist: Path) -> None:
    response = await get(dist, "/app")
    assert response.status_code == 308
    assert response.headers["location"] == "/app/"


async def test_hashed_assets_are_cached_for_good(dist: Path) -> None:
    response = await get(dist, "/app/assets/index-abc.js")
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert (await get(dist, "/app/assets/missing.js")).status_code == 404


async def test_the_widget_script_may_be_embedded_by_other_origins(dist: Path) -> None:
    response = await get(dist, "/widget.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cross-origin-resource-policy"] == "cross-origin"


async def test_the_demo_page_is_served(dist: Path) -> None:
    response = await get(dist, "/widget-demo")
    assert response.status_code == 200
    assert "content-security-policy" in response.headers


@pytest.mark.parametrize("path", ["/app/", "/widget.js", "/widget-demo"])
async def test_an_unbuilt_front_end_says_how_to_build_it(tmp_path: Path, path: str) -> None:
    response = await get(tmp_path / "nothing", path)
    assert response.status_code == 503
    assert "npm run build" in response.text
