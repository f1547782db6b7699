"""Each request limit of graph/hardening.py, exceeded, gets a clean error (routing.md "Errors"):
depth, tokens, aliases, page size, body size, batching, introspection, and on the websocket the
origin check, the connection_init timeout and the subscriptions per connection.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest
from websockets.exceptions import InvalidStatus

from graph.hardening import ApiLimits
from tests.e2e.support import LiveServer
from tests.security.support import (
    ME,
    Servers,
    assert_clean_refusal,
    assert_open,
    close_code,
    error_codes,
    plain_http,
    post_json,
    post_raw,
    raw_ws,
    receive,
    subscribe,
)

pytestmark = pytest.mark.e2e

ALLOWED_ORIGIN = "https://app.example"
LIMITS = ApiLimits(ws_init_timeout_seconds=0.5, ws_max_subscriptions=2)
AVAILABILITY = "subscription { availabilityChanged { chatAvailable mailAvailable } }"


@pytest.fixture(scope="module")
def live(module_servers: Servers) -> LiveServer:
    """Default GraphQL limits, a short connection_init timeout, two subscriptions per connection."""
    return module_servers.start(api=LIMITS, allowed_origins=(ALLOWED_ORIGIN,))


@pytest.fixture(scope="module")
def closed_live(module_servers: Servers) -> LiveServer:
    """Introspection off, as STAMM_INTROSPECTION=0 sets it."""
    return module_servers.start(api=ApiLimits(introspection=False))


# Query shape -----------------------------------------------------------------------------------

# Client.primaryCounsellor -> Counsellor.primaryClients -> ClientConnection.edges -> ClientEdge.node -> Client
_CYCLE = ("primaryCounsellor", "primaryClients", "edges", "node")
_LEAF = {
    "client": "id",
    "primaryCounsellor": "id",
    "primaryClients": "totalCount",
    "edges": "cursor",
    "node": "id",
}


def query_of_depth(depth: int) -> str:
    """`{ me { client { primaryCounsellor { … } } } }` of the given depth.

    Depth as the limiter counts it: the top-level field is at depth 0, so `depth + 1` nested fields.
    """
    path = ["me", "client", *(_CYCLE[i % len(_CYCLE)] for i in range(depth - 2))]
    leaf = _LEAF[path[-1]]
    return "{ " + " { ".join(path) + " { " + leaf + " }" * len(path) + " }"


async def test_a_query_of_depth_twelve_runs(live: LiveServer) -> None:
    response = await post_json(live, {"query": query_of_depth(12)})
    assert response.status_code == 200
    assert "errors" not in response.json(), response.text


async def test_a_query_deeper_than_twelve_is_refused(live: LiveServer) -> None:
    response = await post_json(live, {"query": query_of_depth(13)})
    assert response.status_code == 200
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"], response.text
    assert response.json().get("data") is None


async def test_a_document_of_up_to_2000_tokens_runs(live: LiveServer) -> None:
    # 1,982 tokens (distinct selections: a thousand identical fields trip graphql-core's own guard).
    response = await post_json(live, {"query": "{ " + "... on Query { __typename } " * 330 + "}"})
    assert "errors" not in response.json(), response.text[:500]


async def test_a_document_of_more_than_2000_tokens_is_a_parse_error(live: LiveServer) -> None:
    response = await post_json(live, {"query": "{ " + "__typename " * 2100 + "}"})
    assert response.status_code == 200
    assert error_codes(response) == ["GRAPHQL_PARSE_FAILED"], response.text[:500]


async def test_a_plain_syntax_error_is_a_parse_error(live: LiveServer) -> None:
    """The token limit aborts parsing with a syntax error; an ordinary one must be coded alike."""
    response = await post_json(live, {"query": "{ me {"})
    assert error_codes(response) == ["GRAPHQL_PARSE_FAILED"], response.text


def aliased(count: int) -> str:
    return "{ " + " ".join(f"a{i}: me {{ role }}" for i in range(count)) + " }"


async def test_thirty_aliases_run(live: LiveServer) -> None:
    response = await post_json(live, {"query": aliased(30)})
    assert "errors" not in response.json(), response.text


async def test_more_than_thirty_aliases_are_refused(live: LiveServer) -> None:
    response = await post_json(live, {"query": aliased(31)})
    assert error_codes(response) == ["GRAPHQL_VALIDATION_FAILED"], response.text


@pytest.mark.parametrize(
    "query",
    [
        "{ requests(first: 101) { totalCount } }",
        "{ clients(first: 101) { totalCount } }",
        "{ auditLog(first: 101) { totalCount } }",
        "{ requests(first: -1) { totalCount } }",
    ],
)
async def test_a_page_larger_than_100_is_bad_input_naming_first(live: LiveServer, query: str) -> None:
    token = await live.admin_token()
    response = await post_json(live, {"query": query}, token=token)
    errors = response.json()["errors"]
    assert [e["extensions"] for e in errors] == [{"code": "BAD_USER_INPUT", "field": "first"}]


async def test_a_page_of_100_is_fine(live: LiveServer) -> None:
    token = await live.admin_token()
    response = await post_json(live, {"query": "{ requests(first: 100) { totalCount } }"}, token=token)
    assert "errors" not in response.json(), response.text


# Body size and batching ------------------------------------------------------------------------

LIMIT = 256 * 1024


def _assert_too_large(status: int, body: str, content_type: str | None) -> None:
    assert status == 413
    assert content_type is not None and content_type.startswith("application/json")
    assert [e["extensions"]["code"] for e in json.loads(body)["errors"]] == ["PAYLOAD_TOO_LARGE"]


async def test_a_body_over_256_kib_is_413_with_json(live: LiveServer) -> None:
    body = json.dumps({"query": ME, "variables": {"pad": "x" * LIMIT}}).encode()
    response = await post_raw(live, body)
    _assert_too_large(response.status_code, response.text, response.headers.get("content-type"))


async def test_a_streamed_body_over_256_kib_is_413_too(live: LiveServer) -> None:
    """Without a Content-Length the limit is counted as the body arrives."""

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ me { role } }", "variables": {"pad": "'
        for _ in range(300):
            yield b"x" * 1024
        yield b'"}}'

    async with plain_http() as client:
        response = await client.post(
            live.graphql_url, content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    _assert_too_large(response.status_code, response.text, response.headers.get("content-type"))


async def test_a_body_just_under_the_limit_is_served(live: LiveServer) -> None:
    body = json.dumps({"query": ME, "extensions": {"pad": "x" * (LIMIT - 1024)}}).encode()
    assert len(body) < LIMIT
    response = await post_raw(live, body)
    assert response.status_code == 200, response.text[:300]
    assert response.json()["data"] == {"me": None}


async def test_a_batched_request_is_refused_cleanly(live: LiveServer) -> None:
    response = await post_json(live, [{"query": ME}, {"query": ME}])
    assert_clean_refusal(response)
    # Nothing ran: no data; the refusal is a coded error (it was plain text before).
    assert "data" not in response.json()
    assert error_codes(response) == ["BAD_REQUEST"]


# Introspection ---------------------------------------------------------------------------------


async def test_introspection_is_on_by_default(live: LiveServer) -> None:
    response = await post_json(live, {"query": "{ __schema { queryType { name } } }"})
    assert response.json() == {"data": {"__schema": {"queryType": {"name": "Query"}}}}


@pytest.mark.parametrize("query", ["{ __schema { types { name } } }", '{ __type(name: "Query") { name } }'])
async def test_introspection_switched_off_is_refused(closed_live: LiveServer, query: str) -> None:
    response = await post_json(closed_live, {"query": query})
    assert response.status_code == 200
    codes = error_codes(response)
    assert codes and set(codes) == {"GRAPHQL_VALIDATION_FAILED"}, response.text
    assert response.json().get("data") is None


async def test_typename_still_works_without_introspection(closed_live: LiveServer) -> None:
    response = await post_json(closed_live, {"query": "{ __typename }"})
    assert response.json() == {"data": {"__typename": "Query"}}


# Websocket -------------------------------------------------------------------------------------


async def test_a_cross_origin_websocket_is_refused(live: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with raw_ws(live, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    assert b"Traceback" not in (refused.value.response.body or b"")


@pytest.mark.parametrize(
    "origin", [ALLOWED_ORIGIN, None, "same"], ids=["allowed-origin", "no-origin", "same-origin"]
)
async def test_listed_same_and_missing_origins_may_connect(live: LiveServer, origin: str | None) -> None:
    if origin == "same":
        origin = live.base_url
    async with raw_ws(live, origin=origin) as ws:
        await assert_open(ws)


async def test_a_websocket_without_connection_init_is_closed_with_4408(live: LiveServer) -> None:
    started = time.monotonic()
    async with raw_ws(live, init=False) as ws:
        code = await close_code(ws, within=5)
    assert code == 4408
    assert time.monotonic() - started >= 0.4  # the configured 0.5 s, not at once


async def test_more_subscriptions_than_allowed_on_one_connection_are_refused(live: LiveServer) -> None:
    async with raw_ws(live) as ws:
        for operation_id in ("1", "2"):
            await subscribe(ws, operation_id, AVAILABILITY)
            first = await receive(ws)
            assert (first["id"], first["type"]) == (operation_id, "next"), first
        await subscribe(ws, "3", AVAILABILITY)
        refused = await receive(ws)
        assert (refused["id"], refused["type"]) == ("3", "error"), refused
        assert "Traceback" not in json.dumps(refused)
        # The two running subscriptions are untouched, and completing one frees its slot.
        await assert_open(ws)
        listening = live.bus_subscribers()
        await ws.send(json.dumps({"id": "1", "type": "complete"}))
        await live.wait_for_bus_subscribers_down_to(listening - 1)  # the completed one has ended
        await subscribe(ws, "4", AVAILABILITY)
        again = await receive(ws)
        assert (again["id"], again["type"]) == ("4", "next"), again


async def test_the_subscription_limit_error_carries_a_code(live: LiveServer) -> None:
    """routing.md: every error carries extensions.code, the subscription limit's too."""
    async with raw_ws(live) as ws:
        for operation_id in ("1", "2"):
            await subscribe(ws, operation_id, AVAILABILITY)
            await receive(ws)
        await subscribe(ws, "3", AVAILABILITY)
        refused = await receive(ws)
        assert refused["type"] == "error"
        assert all((e.get("extensions") or {}).get("code") for e in refused["payload"]), refused
