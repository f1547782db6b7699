"""Fuzzing: schemathesis-generated operations (see fuzzing.py), then hand-written malformed requests
over HTTP and protocol violations on the websocket, each answered cleanly.

A clean answer: a 4xx (or a GraphQL error with its code) and nothing of the server's insides, never
a 5xx or a dropped connection. `python -m tests.security.fuzz_large` runs the generated part longer.
"""

from __future__ import annotations

import json

import pytest
from websockets.exceptions import ConnectionClosed

from tests.e2e.support import LiveServer, register_client
from tests.security.fuzzing import fuzz, viewer_tokens
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

EXAMPLES = 120
AVAILABILITY = "subscription { availabilityChanged { chatAvailable } }"
REQUEST_UPDATED = "subscription ($id: ID) { requestUpdated(id: $id) { id } }"


@pytest.fixture(scope="module")
def live(module_servers: Servers) -> LiveServer:
    return module_servers.start()


def test_generated_operations_get_clean_answers(module_servers: Servers) -> None:
    """A server of its own: generated mutations change its data."""
    live = module_servers.start()
    report = fuzz(live.graphql_url, viewer_tokens(live.graphql_url), examples=EXAMPLES, derandomize=True)
    assert report.calls >= EXAMPLES * 0.9, report.summary()
    assert report.with_data > 0, report.summary()  # not everything was refused
    assert not report.findings, report.summary()


# Malformed HTTP requests -----------------------------------------------------------------------


async def test_a_malformed_json_body_is_refused_cleanly(live: LiveServer) -> None:
    response = await post_raw(live, b'{"query": "{ me { role } }"')
    assert_clean_refusal(response)


@pytest.mark.parametrize(
    "body", [b'"a string"', b"5", b"null", b"true"], ids=["string", "number", "null", "bool"]
)
async def test_a_json_body_that_is_not_an_object_is_refused_cleanly(live: LiveServer, body: bytes) -> None:
    assert_clean_refusal(await post_raw(live, body))


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "",
    ],
)
async def test_a_wrong_content_type_is_refused_cleanly(live: LiveServer, content_type: str) -> None:
    response = await post_raw(live, json.dumps({"query": ME}).encode(), content_type=content_type)
    assert_clean_refusal(response)
    # A multipart body (an upload) is read only with a bearer token (graph/uploads.py): 401 without.
    assert response.status_code in ((401,) if content_type.startswith("multipart/") else (400, 415))


async def test_a_one_megabyte_string_variable_is_413(live: LiveServer) -> None:
    response = await post_json(
        live, {"query": "query ($s: String!) { me { role } }", "variables": {"s": "x" * 1_000_000}}
    )
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/json")
    assert error_codes(response) == ["PAYLOAD_TOO_LARGE"]


async def test_a_deeply_nested_json_variable_is_refused_cleanly(live: LiveServer) -> None:
    """20,000 levels of JSON (120 KB, under the body limit) must not exhaust the parser's stack."""
    depth = 20_000
    variables = '{"input": ' + '{"a": ' * depth + "1" + "}" * depth + "}"
    body = '{"query": "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }", '
    response = await post_raw(live, (body + '"variables": ' + variables + "}").encode())
    assert_clean_refusal(response)


async def test_a_deeply_nested_json_variable_in_a_get_is_refused_cleanly(live: LiveServer) -> None:
    async with plain_http() as client:
        response = await client.get(
            live.graphql_url, params={"query": ME, "variables": "[" * 3000 + "]" * 3000}
        )
    assert_clean_refusal(response)


@pytest.mark.parametrize("depth", [1, 200])
async def test_an_object_where_a_string_belongs_is_bad_input_naming_the_field(
    live: LiveServer, depth: int
) -> None:
    """routing.md: BAD_USER_INPUT with extensions.field naming the input field (`input.message`),
    also for variables of the wrong type, however deeply nested the wrong value is."""
    nested: object = "Hallo"
    for _ in range(depth):
        nested = {"message": nested}
    client = await register_client(live, "Tief")
    response = await post_json(
        live,
        {
            "query": "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { id } }",
            "variables": {"input": {"channel": "MAIL", "message": nested}},
        },
        token=client.token,
    )
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [(e["extensions"]["code"], e["extensions"].get("field")) for e in errors] == [
        ("BAD_USER_INPUT", "input.message")
    ]


async def test_a_deeply_nested_input_literal_is_a_parse_error(live: LiveServer) -> None:
    literal = "{message: " * 300 + '"x"' + "}" * 300
    query = f"mutation {{ submitRequest(input: {literal}) {{ id }} }}"
    response = await post_json(live, {"query": query})
    assert response.status_code == 200
    assert error_codes(response) == ["GRAPHQL_PARSE_FAILED"], response.text[:300]


@pytest.mark.parametrize(
    "body",
    [
        b'{"query": "{ me { role } }", "x": "\xff\xfe"}',
        b'{"query": "{ me { r\xc3\x28le } }"}',
        b"\xff\xfe\xfd",
    ],
    ids=["in-a-string", "in-the-query", "only-garbage"],
)
async def test_invalid_utf_8_is_refused_cleanly(live: LiveServer, body: bytes) -> None:
    assert_clean_refusal(await post_raw(live, body))


async def test_an_unknown_operation_name_is_refused_cleanly(live: LiveServer) -> None:
    response = await post_json(live, {"query": "query Known { me { role } }", "operationName": "Unknown"})
    if response.status_code == 200:
        assert error_codes(response) and all(error_codes(response)), response.text
    else:
        assert_clean_refusal(response)


@pytest.mark.parametrize(
    "body",
    [
        {"query": 5},
        {"query": ME, "variables": "not an object"},
        {"query": ME, "extensions": []},
        {"variables": {}},
    ],
    ids=["query-not-a-string", "variables-not-an-object", "extensions-not-an-object", "no-query"],
)
async def test_request_fields_of_the_wrong_type_are_refused_cleanly(live: LiveServer, body: object) -> None:
    assert_clean_refusal(await post_json(live, body))


async def test_a_mutation_over_get_is_refused(live: LiveServer) -> None:
    async with plain_http() as client:
        response = await client.get(live.graphql_url, params={"query": "mutation { logout }"})
    assert_clean_refusal(response)


async def test_the_server_still_serves_after_all_this(live: LiveServer) -> None:
    response = await post_json(live, {"query": ME})
    assert response.json() == {"data": {"me": None}}


# Websocket protocol violations -----------------------------------------------------------------


async def test_subscribe_before_connection_init_is_closed_with_4401(live: LiveServer) -> None:
    async with raw_ws(live, init=False) as ws:
        await subscribe(ws, "1", AVAILABILITY)
        assert await close_code(ws) == 4401


async def test_a_duplicate_subscription_id_is_closed_with_4409(live: LiveServer) -> None:
    async with raw_ws(live) as ws:
        await subscribe(ws, "same", AVAILABILITY)
        assert (await receive(ws))["type"] == "next"
        await subscribe(ws, "same", AVAILABILITY)
        assert await close_code(ws) == 4409


@pytest.mark.parametrize(
    "frame",
    ["this is not json", "{", '{"id": "1"}', '{"type": "nonsense"}', b"\x00\xff\x00"],
    ids=["garbage", "truncated", "no-type", "unknown-type", "binary"],
)
async def test_a_garbage_frame_is_closed_with_4400(live: LiveServer, frame: str | bytes) -> None:
    async with raw_ws(live) as ws:
        await ws.send(frame)
        assert await close_code(ws) == 4400


@pytest.mark.parametrize("frame", ["[1, 2]", '"text"', "5", "null"], ids=["list", "string", "number", "null"])
async def test_a_json_frame_that_is_not_an_object_is_closed_with_4400(live: LiveServer, frame: str) -> None:
    async with raw_ws(live) as ws:
        await ws.send(frame)
        assert await close_code(ws) == 4400


@pytest.mark.parametrize(
    "payload",
    [{"query": 5}, {"query": REQUEST_UPDATED, "variables": "x"}, "not an object"],
    ids=["query-not-a-string", "variables-not-an-object", "payload-not-an-object"],
)
async def test_a_malformed_subscribe_payload_is_refused_cleanly(live: LiveServer, payload: object) -> None:
    """Refused with errors carrying a code, or the socket closed with 4400."""
    async with raw_ws(live) as ws:
        await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": payload}))
        try:
            message = await receive(ws, within=5)
        except ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4400, closed
            return
        assert message["id"] == "1", message
        # An `error` message, or a `next` whose payload has errors; never silence or `complete` alone.
        errors = (
            message["payload"] if message["type"] == "error" else message.get("payload", {}).get("errors")
        )
        assert errors and all((e.get("extensions") or {}).get("code") for e in errors), message


async def test_a_second_connection_init_is_closed_with_4429(live: LiveServer) -> None:
    async with raw_ws(live) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert await close_code(ws) == 4429


async def test_a_connection_init_payload_that_is_not_an_object_is_closed_with_4400(live: LiveServer) -> None:
    async with raw_ws(live, init=False) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": "token"}))
        assert await close_code(ws) == 4400


async def test_a_malformed_authorization_in_connection_init_fails_the_operation_only(
    live: LiveServer,
) -> None:
    async with raw_ws(live, init=False) as ws:
        await ws.send(json.dumps({"type": "connection_init", "payload": {"Authorization": 5}}))
        assert (await receive(ws))["type"] == "connection_ack"
        await subscribe(ws, "1", AVAILABILITY)
        message = await receive(ws)
        assert message["id"] == "1", message
        # An execution error of the subscription: sent as the payload's errors.
        errors = message["payload"] if message["type"] == "error" else message["payload"]["errors"]
        assert [e["extensions"]["code"] for e in errors] == ["UNAUTHENTICATED"]
        await assert_open(ws)
