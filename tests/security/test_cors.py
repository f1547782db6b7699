"""CORS: pages on the origins of STAMM_ALLOWED_ORIGINS may call the API from a browser over HTTP,
preflight included; every other origin gets no CORS permission, so browsers refuse it. (The
websocket's origin check is in test_limits.py; tests/browser/test_embedding.py shows both in a
real browser.)"""

from __future__ import annotations

import pytest

from tests.e2e.support import LiveServer
from tests.security.support import ME, Servers, plain_http

pytestmark = pytest.mark.e2e

ALLOWED = "https://beratung.example"
OTHER = "https://evil.example"


@pytest.fixture(scope="module")
def live(module_servers: Servers) -> LiveServer:
    return module_servers.start(allowed_origins=(ALLOWED, "https://second.example"))


def preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type",
    }


async def test_the_preflight_of_an_allowed_origin_is_answered(live: LiveServer) -> None:
    async with plain_http() as http:
        response = await http.options(live.graphql_url, headers=preflight(ALLOWED))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers and "content-type" in allowed_headers
    assert "origin" in response.headers["vary"].lower()


async def test_a_post_from_an_allowed_origin_may_be_read(live: LiveServer) -> None:
    async with plain_http() as http:
        response = await http.post(live.graphql_url, json={"query": ME}, headers={"origin": ALLOWED})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.json() == {"data": {"me": None}}


@pytest.mark.parametrize("origin", [OTHER, "http://beratung.example", "https://beratung.example:8443"])
async def test_any_other_origin_gets_no_permission(live: LiveServer, origin: str) -> None:
    async with plain_http() as http:
        refused = await http.options(live.graphql_url, headers=preflight(origin))
        posted = await http.post(live.graphql_url, json={"query": ME}, headers={"origin": origin})
    assert refused.status_code == 400
    assert "access-control-allow-origin" not in refused.headers
    # The request itself is answered (a server cannot stop a simple request), but without the
    # header a browser does not let the page read it.
    assert "access-control-allow-origin" not in posted.headers


async def test_without_allowed_origins_no_origin_is_permitted(module_servers: Servers) -> None:
    closed = module_servers.start()
    async with plain_http() as http:
        response = await http.options(closed.graphql_url, headers=preflight(ALLOWED))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
