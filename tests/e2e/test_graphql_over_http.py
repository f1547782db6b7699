"""GraphQL over HTTP as the spec says, checked by its reference audit and by our own choices.

The audit is graphql-http's `auditServer` (pinned in tests/http_audit/package.json), run by
`node` against a real server process; `npm ci` installs it into tests/http_audit/node_modules
when that is missing (docs/decisions.md says why not a Python copy of the audits).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from websockets.typing import Subprotocol

from tests.e2e.conftest import _database
from tests.e2e.support import SECRET_KEY
from tests.services import REQUIRED, backends
from tests.support.server import REPO_ROOT, ServerProcess

pytestmark = pytest.mark.e2e

AUDIT = REPO_ROOT / "tests" / "http_audit"
# Bounds a failure only: the audit sends about 60 small requests.
AUDIT_TIMEOUT = 120
GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"
SET_CAPACITY = "mutation ($c: Int!) { setChatCapacity(capacity: $c) { id } }"
SUBSCRIPTION = "subscription { availabilityChanged { chatAvailable } }"
TWO_OPERATIONS = "query A { me { role } } query B { __typename }"


def _node_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node and npm:
        return node, npm
    message = "the GraphQL over HTTP audit needs node and npm on PATH"
    if REQUIRED:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def node() -> str:
    """node, with the pinned audit installed from package-lock.json."""
    node, npm = _node_tools()
    # xdist workers (and other runs in this tree) share tests/http_audit: one installs, the others
    # wait on the lock and then find it installed. flock on the folder itself leaves no lock file.
    folder = os.open(AUDIT, os.O_RDONLY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        if not (AUDIT / "node_modules" / "graphql-http").is_dir():
            installed = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=AUDIT, capture_output=True, text=True
            )
            assert installed.returncode == 0, f"npm ci failed:\n{installed.stdout}\n{installed.stderr}"
    finally:
        os.close(folder)  # releases the lock
    return node


@pytest.fixture(scope="module", params=backends())
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The service as `make run` starts it (python -m graph.main), on a new database."""
    folder = tmp_path_factory.mktemp("over-http")
    for database_url in _database(request.param, folder):
        settings = {
            "DATABASE_URL": database_url,
            "BROADCAST_URL": request.param.bus_url,
            "STAMM_MIGRATE": "1",
            "STAMM_DATA_DIR": str(folder),
            # Required with a Redis bus (every process must share them).
            "STAMM_SECRET_KEY": SECRET_KEY,
            "STAMM_DATA_KEY": base64.b64encode(b"d" * 32).decode(),
        }
        server = ServerProcess("over-http", settings, folder / "server.log")
        server.start()
        try:
            yield server
        finally:
            server.stop()


def audit(node: str, url: str) -> list[dict[str, Any]]:
    ran = subprocess.run(
        [node, str(AUDIT / "audit.mjs"), url], capture_output=True, text=True, timeout=AUDIT_TIMEOUT
    )
    assert ran.returncode == 0, ran.stderr
    results: list[dict[str, Any]] = json.loads(ran.stdout)
    return results


def test_every_must_and_should_of_the_graphql_http_audit_passes(node: str, live: ServerProcess) -> None:
    results = audit(node, live.graphql_url)
    required = [r for r in results if r["name"].startswith(("MUST", "SHOULD"))]
    failed = [r for r in required if r["status"] != "ok"]
    assert not failed, "\n".join(f"{r['id']} {r['name']}: {r['reason']} ({r['body'][:200]})" for r in failed)
    # A pinned audit whose requirements vanished would pass vacuously.
    assert sum(r["name"].startswith("MUST") for r in required) >= 13
    assert sum(r["name"].startswith("SHOULD") for r in required) >= 23


def post(live: ServerProcess, body: Any, accept: str | None, **headers: str) -> httpx.Response:
    if accept is not None:
        headers["accept"] = accept
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers.setdefault("content-type", JSON)
    return httpx.post(live.graphql_url, content=content, headers=headers, timeout=30)


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


# Requests that fail before execution: (body, the code of their error).
BEFORE_EXECUTION = {
    "parse error": ({"query": "{ me { role "}, "GRAPHQL_PARSE_FAILED"),
    "validation error": ({"query": "{ me { role } nonsense }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variable of the wrong type": ({"query": SET_CAPACITY, "variables": {"c": "x"}}, "BAD_USER_INPUT"),
    "missing variable": ({"query": SET_CAPACITY}, "BAD_USER_INPUT"),
    # The document's own variable mistakes are validation failures (routing.md: BAD_USER_INPUT is
    # for values); the value errors above stay BAD_USER_INPUT.
    "variable in the wrong position": (
        {"query": "query ($c: String!) { setChatCapacity(capacity: $c) { id } }"},
        "GRAPHQL_VALIDATION_FAILED",
    ),
    "variable never used": ({"query": "query ($c: Int) { me { role } }"}, "GRAPHQL_VALIDATION_FAILED"),
    "variable not defined": ({"query": "{ counsellor(id: $x) { id } }"}, "GRAPHQL_VALIDATION_FAILED"),
}


@pytest.mark.parametrize(("body", "code"), BEFORE_EXECUTION.values(), ids=BEFORE_EXECUTION.keys())
def test_a_request_failing_before_execution_is_400_without_data_under_graphql_response_json(
    live: ServerProcess, body: dict[str, Any], code: str
) -> None:
    response = post(live, body, GRAPHQL_RESPONSE)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" not in response.json()
    assert codes(response) == [code]


@pytest.mark.parametrize(("body", "code"), BEFORE_EXECUTION.values(), ids=BEFORE_EXECUTION.keys())
@pytest.mark.parametrize("accept", [None, "*/*", JSON, f"{GRAPHQL_RESPONSE};q=0.5, {JSON}"])
def test_application_json_keeps_200_with_null_data(
    live: ServerProcess, body: dict[str, Any], code: str, accept: str | None
) -> None:
    response = post(live, body, accept)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(JSON)
    assert response.json()["data"] is None
    assert codes(response) == [code]


def test_an_error_during_execution_is_200_with_data_under_graphql_response_json(live: ServerProcess) -> None:
    """Execution started, so the response carries `data` (here null: clients is non-null) and 2xx."""
    response = post(live, {"query": "{ clients { totalCount } }"}, f"{GRAPHQL_RESPONSE}, {JSON}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(GRAPHQL_RESPONSE)
    assert "data" in response.json()
    assert codes(response) == ["UNAUTHENTICATED"]


# Requests refused before GraphQL runs: (method, body or query, headers, status, code).
REFUSED: dict[str, tuple[str, Any, dict[str, str], int, str]] = {
    "body not JSON": ("POST", b"{not json", {}, 400, "BAD_REQUEST"),
    "body not an object": ("POST", b"[1, 2]", {}, 400, "BAD_REQUEST"),
    "no query": ("POST", {}, {}, 400, "BAD_REQUEST"),
    "unknown operation": (
        "POST",
        {"query": "{ me { role } }", "operationName": "Nope"},
        {},
        400,
        "BAD_REQUEST",
    ),
    "query not a string": ("POST", {"query": 5}, {}, 400, "BAD_REQUEST"),
    "variables not an object": (
        "POST",
        {"query": "{ me { role } }", "variables": "x"},
        {},
        400,
        "BAD_REQUEST",
    ),
    "text/plain body": (
        "POST",
        {"query": "{ me { role } }"},
        {"content-type": "text/plain"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "form body": (
        "POST",
        {"query": "{ me { role } }"},
        {"content-type": "application/x-www-form-urlencoded"},
        415,
        "UNSUPPORTED_MEDIA_TYPE",
    ),
    "mutation by GET": ("GET", {"query": "mutation { logout }"}, {}, 405, "METHOD_NOT_ALLOWED"),
    # Subscriptions are served over the websocket only (strawberry ran them as a query: a 500).
    "subscription by POST": ("POST", {"query": SUBSCRIPTION}, {}, 400, "BAD_REQUEST"),
    "subscription by GET": ("GET", {"query": SUBSCRIPTION}, {}, 400, "BAD_REQUEST"),
    # The GraphQL spec: several operations need an operationName (strawberry ran the first).
    "several operations without a name": ("POST", {"query": TWO_OPERATIONS}, {}, 400, "BAD_REQUEST"),
}


def send(live: ServerProcess, method: str, body: Any, headers: dict[str, str]) -> httpx.Response:
    if method == "GET":
        return httpx.get(live.graphql_url, params=body, headers=headers, timeout=30)
    return post(live, body, headers.pop("accept", None), **headers)


@pytest.mark.parametrize(
    ("method", "body", "headers", "status", "code"), REFUSED.values(), ids=REFUSED.keys()
)
@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_a_refused_request_is_4xx_with_a_coded_error_in_the_accepted_type(
    live: ServerProcess, method: str, body: Any, headers: dict[str, str], status: int, code: str, accept: str
) -> None:
    response = send(live, method, body, {**headers, "accept": accept})
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(accept)
    assert codes(response) == [code]
    assert "data" not in response.json()
    if status == 405:
        assert response.headers["allow"] == "POST"


@pytest.mark.parametrize("accept", ["text/xml", "application/xml, text/plain", f"{GRAPHQL_RESPONSE};q=0"])
def test_a_client_accepting_no_json_is_406(live: ServerProcess, accept: str) -> None:
    response = post(live, {"query": "{ me { role } }"}, accept)
    assert response.status_code == 406
    assert response.headers["content-type"].startswith(JSON)
    assert codes(response) == ["NOT_ACCEPTABLE"]


@pytest.mark.parametrize("accept", [GRAPHQL_RESPONSE, JSON])
def test_a_subscription_over_http_says_to_use_the_websocket(live: ServerProcess, accept: str) -> None:
    response = post(live, {"query": SUBSCRIPTION}, accept)
    assert response.status_code == 400
    assert "websocket" in response.json()["errors"][0]["message"]


def test_an_operation_name_picks_one_of_several_operations(live: ServerProcess) -> None:
    response = post(live, {"query": TWO_OPERATIONS, "operationName": "B"}, GRAPHQL_RESPONSE)
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


# The subscribe message of each websocket protocol the server speaks.
SUBSCRIBE = {"graphql-transport-ws": "subscribe", "graphql-ws": "start"}


async def _websocket_answer(
    live: ServerProcess, protocol: str, payload: dict[str, Any]
) -> tuple[str | None, int | None]:
    """Subscribe with `payload` after connection_init; the next message, or the close code."""
    async with websockets.connect(live.ws_url, subprotocols=[Subprotocol(protocol)]) as ws:
        await ws.send(json.dumps({"type": "connection_init"}))
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        await ws.send(json.dumps({"id": "1", "type": SUBSCRIBE[protocol], "payload": payload}))
        try:
            return str(await ws.recv()), None
        except websockets.ConnectionClosed as closed:
            return None, closed.rcvd.code if closed.rcvd else None


@pytest.mark.parametrize("protocol", SUBSCRIBE.keys())
async def test_a_websocket_message_over_the_body_limit_closes_the_socket_with_4413(
    live: ServerProcess, protocol: str
) -> None:
    """STAMM_MAX_BODY_BYTES (256 KiB by default) bounds websocket messages as it bounds bodies."""
    padding = "x" * (300 * 1024)
    payload = {"query": SUBSCRIPTION, "variables": {"p": padding}}
    assert await _websocket_answer(live, protocol, payload) == (None, 4413)


@pytest.mark.parametrize("protocol", SUBSCRIBE.keys())
async def test_a_websocket_message_under_the_limit_is_served(live: ServerProcess, protocol: str) -> None:
    payload = {"query": SUBSCRIPTION, "variables": {"p": "x" * 1000}}
    answer, closed = await _websocket_answer(live, protocol, payload)
    assert closed is None and answer is not None
    assert json.loads(answer)["type"] in ("next", "data")


@pytest.mark.parametrize("protocol", SUBSCRIBE.keys())
async def test_several_subscriptions_without_an_operation_name_are_an_error_on_the_websocket(
    live: ServerProcess, protocol: str
) -> None:
    two = (
        "subscription A { availabilityChanged { chatAvailable } } "
        "subscription B { availabilityChanged { chatAvailable } }"
    )
    answer, closed = await _websocket_answer(live, protocol, {"query": two})
    assert closed is None and answer is not None
    found = json.loads(answer)
    assert found["type"] == "error" and found["id"] == "1"
    errors = found["payload"] if isinstance(found["payload"], list) else [found["payload"]]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_REQUEST"]
