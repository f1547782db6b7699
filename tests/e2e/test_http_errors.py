"""Error codes over HTTP as a frontend meets them, and the printed form of DateTime values."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest

from tests.e2e.support import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    PASSWORD,
    SECRET_KEY,
    LiveServer,
    codes,
    create_counsellor,
    raw_post,
    register_client,
    submit,
    unique_email,
)

pytestmark = pytest.mark.e2e

SET_CAPACITY = "mutation ($c: Int!) { setChatCapacity(capacity: $c) { id chatCapacity } }"
SUBMIT = "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { id status } }"
LOGIN = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token me { role } } }"


def global_id(kind: str, row_id: int) -> str:
    """An id as the service writes them (base64 of "Kind:row"), for ids that exist nowhere."""
    return base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode().rstrip("=")


async def post(
    server: LiveServer, body: dict[str, Any], token: str | None = None, *, raw_token: str | None = None
) -> dict[str, Any]:
    """A raw POST; every answer is JSON and never shows a traceback."""
    response = await raw_post(server.graphql_url, body, token, raw_token=raw_token)
    assert "Traceback" not in response.text
    assert 'File "' not in response.text
    found: dict[str, Any] = response.json()
    return found


def only_error(result: dict[str, Any]) -> dict[str, Any]:
    errors = result.get("errors") or []
    assert len(errors) == 1, result
    error: dict[str, Any] = errors[0]
    return error


def extensions(error: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = error.get("extensions") or {}
    return found


# Parsing and validation -------------------------------------------------------------------------


async def test_a_syntax_error_is_graphql_parse_failed(shared_server: LiveServer) -> None:
    error = only_error(await post(shared_server, {"query": "{ me { role "}))
    assert error["message"].startswith("Syntax Error")
    assert extensions(error).get("code") == "GRAPHQL_PARSE_FAILED"


async def test_an_unknown_field_is_graphql_validation_failed(shared_server: LiveServer) -> None:
    errors = await shared_server.call_error(None, "{ me { role } nonsense }")
    assert codes(errors) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "nonsense" in errors[0]["message"]


async def test_an_unknown_argument_is_graphql_validation_failed(shared_server: LiveServer) -> None:
    admin = await shared_server.admin_token()
    errors = await shared_server.call_error(admin, "{ counsellors(sortBy: NAME) { id } }")
    assert codes(errors) == ["GRAPHQL_VALIDATION_FAILED"]


# Bad input ----------------------------------------------------------------------------------------


async def test_a_variable_of_the_wrong_type_names_the_variable(shared_server: LiveServer) -> None:
    admin = await shared_server.admin_token()
    errors = await shared_server.call_error(admin, SET_CAPACITY, c="lots")
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0]["extensions"]["field"] == "c"

    # A missing required variable, and a wrong enum value deep inside an input variable.
    errors = await shared_server.call_error(admin, SET_CAPACITY)
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0]["extensions"]["field"] == "c"
    kim = await register_client(shared_server, "Kim")
    errors = await shared_server.call_error(kim.token, SUBMIT, input={"channel": "FAX", "message": "Hallo"})
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0]["extensions"]["field"].split(".")[0] == "input"


async def test_a_negative_capacity_is_bad_user_input_on_capacity(shared_server: LiveServer) -> None:
    admin = await shared_server.admin_token()
    errors = await shared_server.call_error(admin, SET_CAPACITY, c=-1)
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0]["extensions"]["field"] == "capacity"

    literal = await shared_server.call_error(admin, "mutation { setChatCapacity(capacity: -3) { id } }")
    assert codes(literal) == ["BAD_USER_INPUT"]
    assert literal[0]["extensions"]["field"] == "capacity"

    # Nothing changed.
    me = await shared_server.call(admin, "{ me { counsellor { chatCapacity } } }")
    assert me["me"]["counsellor"]["chatCapacity"] == 1


async def test_a_literal_of_the_wrong_type_names_its_argument(shared_server: LiveServer) -> None:
    """A BAD_USER_INPUT always says which argument was wrong (the spec: `extensions.field`)."""
    admin = await shared_server.admin_token()
    errors = await shared_server.call_error(admin, 'mutation { setChatCapacity(capacity: "x") { id } }')
    assert len(errors) == 1
    code = codes(errors)[0]
    assert code in ("BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED")
    if code == "BAD_USER_INPUT":
        assert errors[0]["extensions"].get("field") == "capacity", errors


@pytest.mark.parametrize("message", ["", "   \n\t"], ids=["empty", "blank"])
async def test_an_empty_message_is_bad_user_input_on_input_message(
    shared_server: LiveServer, message: str
) -> None:
    kim = await register_client(shared_server, "Kim")
    errors = await shared_server.call_error(kim.token, SUBMIT, input={"channel": "CHAT", "message": message})
    assert codes(errors) == ["BAD_USER_INPUT"]
    assert errors[0]["extensions"]["field"] == "input.message"
    mine = await shared_server.call(kim.token, "{ requests { totalCount } }")
    assert mine["requests"]["totalCount"] == 0


async def test_an_oversized_message_is_bad_user_input(shared_server: LiveServer) -> None:
    kim = await register_client(shared_server, "Kim")
    body = {"query": SUBMIT, "variables": {"input": {"channel": "MAIL", "message": "x" * 100_000}}}
    error = only_error(await post(shared_server, body, kim.token))
    assert extensions(error)["code"] == "BAD_USER_INPUT"
    assert extensions(error)["field"] == "input.message"
    assert "x" * 100 not in error["message"]  # the text is not echoed back


@pytest.mark.parametrize("bad_id", ["!!!", "not-an-id", global_id("Nonsense", 1), global_id("Client", -4)])
async def test_a_malformed_id_is_bad_user_input_on_id(shared_server: LiveServer, bad_id: str) -> None:
    admin = await shared_server.admin_token()
    for field in ("client", "request", "counsellor", "node"):
        errors = await shared_server.call_error(
            admin, f"query ($id: ID!) {{ {field}(id: $id) {{ id }} }}", id=bad_id
        )
        assert codes(errors) == ["BAD_USER_INPUT"], (field, errors)
        assert errors[0]["extensions"]["field"] == "id"


async def test_an_unknown_well_formed_id_is_not_found(shared_server: LiveServer) -> None:
    admin = await shared_server.admin_token()
    for field, kind in (("client", "Client"), ("request", "Request"), ("counsellor", "Counsellor")):
        query = f"query ($id: ID!) {{ {field}(id: $id) {{ id }} }}"
        errors = await shared_server.call_error(admin, query, id=global_id(kind, 987_654))
        assert codes(errors) == ["NOT_FOUND"], (field, errors)
        errors = await shared_server.call_error(
            admin, "query ($id: ID!) { node(id: $id) { id } }", id=global_id(kind, 987_654)
        )
        assert codes(errors) == ["NOT_FOUND"], (field, errors)


async def test_another_clients_record_reads_as_not_found(shared_server: LiveServer) -> None:
    kim = await register_client(shared_server, "Kim")
    lea = await register_client(shared_server, "Lea")
    request = await submit(shared_server, lea.token, "MAIL", "Privat")
    for query, variables in (
        ("query ($id: ID!) { client(id: $id) { id email } }", {"id": lea.id}),
        ("query ($id: ID!) { request(id: $id) { id message } }", {"id": request["id"]}),
        ("query ($id: ID!) { node(id: $id) { id } }", {"id": request["id"]}),
    ):
        errors = await shared_server.call_error(kim.token, query, **variables)
        assert codes(errors) == ["NOT_FOUND"], (query, errors)
        assert "Privat" not in repr(errors) and lea.email not in repr(errors)


# Authentication and permissions -------------------------------------------------------------------


async def test_clients_without_a_token_is_unauthenticated(shared_server: LiveServer) -> None:
    for query in ("{ clients { totalCount } }", "{ counsellors { id } }", "{ requests { totalCount } }"):
        errors = await shared_server.call_error(None, query)
        assert codes(errors) == ["UNAUTHENTICATED"], query


async def test_a_client_on_staff_queries_is_forbidden(shared_server: LiveServer) -> None:
    kim = await register_client(shared_server, "Kim")
    for query in (
        "{ clients { totalCount } }",
        "{ counsellors { id } }",
        "{ settings { primaryChatWaitSeconds } }",
    ):
        errors = await shared_server.call_error(kim.token, query)
        assert codes(errors) == ["FORBIDDEN"], query
    errors = await shared_server.call_error(kim.token, SET_CAPACITY, c=2)
    assert codes(errors) == ["FORBIDDEN"]


async def test_a_counsellor_on_admin_mutations_is_forbidden(shared_server: LiveServer) -> None:
    admin = await shared_server.admin_token()
    anna = await create_counsellor(shared_server, admin, "Anna")
    errors = await shared_server.call_error(
        anna.token,
        "mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id } }",
        input={"email": unique_email("x"), "password": PASSWORD, "displayName": "X"},
    )
    assert codes(errors) == ["FORBIDDEN"]


@pytest.mark.parametrize(
    "authorization",
    ["Bearer not-a-token", "Bearer", "Basic YWRtaW46YWRtaW4=", "Token abc"],
    ids=["garbage", "empty-bearer", "basic", "other-scheme"],
)
async def test_a_bad_token_is_unauthenticated_even_on_me(
    shared_server: LiveServer, authorization: str
) -> None:
    result = await post(shared_server, {"query": "{ me { role } }"}, raw_token=authorization)
    assert extensions(only_error(result))["code"] == "UNAUTHENTICATED"
    assert (result.get("data") or {}).get("me") is None

    # Also where an anonymous visitor would be welcome.
    result = await post(
        shared_server, {"query": "{ availability { chatAvailable } }"}, raw_token=authorization
    )
    assert extensions(only_error(result))["code"] == "UNAUTHENTICATED"


async def test_a_tampered_or_expired_token_is_unauthenticated(shared_server: LiveServer) -> None:
    admin = await shared_server.admin_token()
    header, payload, signature = admin.split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    result = await post(shared_server, {"query": "{ me { role } }"}, tampered)
    assert extensions(only_error(result))["code"] == "UNAUTHENTICATED"

    # The same claims, validly signed, but expired an hour ago.
    claims = jwt.decode(admin, options={"verify_signature": False})
    past = datetime.now(UTC) - timedelta(hours=1)
    claims.update(iat=int((past - timedelta(minutes=5)).timestamp()), exp=int(past.timestamp()))
    expired = jwt.encode(claims, SECRET_KEY, algorithm=jwt.get_unverified_header(admin)["alg"])
    result = await post(shared_server, {"query": "{ me { role } }"}, expired)
    assert extensions(only_error(result))["code"] == "UNAUTHENTICATED"

    # The genuine token still works.
    assert (await shared_server.call(admin, "{ me { role } }"))["me"]["role"] == "ADMIN"


async def test_a_revoked_token_is_unauthenticated(shared_server: LiveServer) -> None:
    kim = await register_client(shared_server, "Kim")
    assert (await shared_server.call(kim.token, "mutation { logout }"))["logout"] is True
    errors = await shared_server.call_error(kim.token, "{ me { role } }")
    assert codes(errors) == ["UNAUTHENTICATED"]


async def test_login_and_register_ignore_a_bad_token(shared_server: LiveServer) -> None:
    signed_in = await post(
        shared_server,
        {"query": LOGIN, "variables": {"e": ADMIN_EMAIL, "p": ADMIN_PASSWORD}},
        raw_token="Bearer not-a-token",
    )
    assert "errors" not in signed_in, signed_in
    assert signed_in["data"]["login"]["me"]["role"] == "ADMIN"

    email = unique_email("ignored")
    registered = await post(
        shared_server,
        {
            "query": "mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token me { role } } }",
            "variables": {"input": {"displayName": "Ida", "email": email, "password": PASSWORD}},
        },
        raw_token="Bearer expired.or.forged",
    )
    assert "errors" not in registered, registered
    assert registered["data"]["registerClient"]["me"]["role"] == "CLIENT"
    assert await shared_server.login(email, PASSWORD)


async def test_a_wrong_password_or_unknown_email_is_unauthenticated(shared_server: LiveServer) -> None:
    kim = await register_client(shared_server, "Kim")
    wrong = await shared_server.call_error(None, LOGIN, e=kim.email, p="not-the-password-1")
    unknown = await shared_server.call_error(None, LOGIN, e=unique_email("nobody"), p=PASSWORD)
    assert codes(wrong) == codes(unknown) == ["UNAUTHENTICATED"]
    # The same answer for both: no hint which e-mail addresses exist.
    assert wrong[0]["message"] == unknown[0]["message"]


# Never a traceback ------------------------------------------------------------------------------


async def test_no_answer_shows_a_traceback(shared_server: LiveServer) -> None:
    bodies: list[dict[str, Any]] = [
        {"query": "{ me { role "},
        {"query": "{ me { role } nonsense }"},
        {"query": "query { me { role } }", "variables": "not-an-object"},
        {"query": "query ($x: Int!) { me { role } }", "variables": {"x": {"deep": ["object"]}}},
        {"query": 'mutation { login(email: "\\u0000", password: "\\u0000") { token } }'},
        {"query": '{ client(id: "\\u0000\\u0001") { id } }'},
        {"query": "subscription { availabilityChanged { chatAvailable } }"},
        {"query": "{ me { role } }", "operationName": "DoesNotExist"},
        {"query": "{ a: me { role } } { b: me { role } }"},
        {"query": None},
        {},
    ]
    for body in bodies:
        response = await raw_post(shared_server.graphql_url, body)
        assert response.status_code < 500, (body, response.text)
        assert "Traceback" not in response.text and 'File "' not in response.text, body
        if response.headers.get("content-type", "").startswith("application/json"):
            errors = response.json().get("errors") or []
            assert errors, (body, response.text)
    async with httpx.AsyncClient(timeout=30) as client:
        for content in (b"{not json", b"", b"[1, 2, 3]"):
            response = await client.post(
                shared_server.graphql_url, content=content, headers={"content-type": "application/json"}
            )
            assert response.status_code < 500, (content, response.text)
            assert "Traceback" not in response.text, content


# DateTime ---------------------------------------------------------------------------------------


def assert_utc(value: str) -> None:
    assert value.endswith(("Z", "+00:00")), value
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    assert parsed.utcoffset() == timedelta(0)
    assert abs(parsed - datetime.now(UTC)) < timedelta(days=1), value


async def test_datetimes_are_utc_with_the_offset_written(shared_server: LiveServer) -> None:
    admin = await shared_server.admin_token()
    anna = await create_counsellor(shared_server, admin, "Anna")
    kim_email = unique_email("kim")
    registered = await shared_server.call(
        None,
        """mutation ($input: RegisterClientInput!) {
             registerClient(input: $input) { token expiresAt me { client { id createdAt } } }
           }""",
        input={"displayName": "Kim", "email": kim_email, "password": PASSWORD},
    )
    session = registered["registerClient"]
    assert_utc(session["expiresAt"])
    assert_utc(session["me"]["client"]["createdAt"])
    kim_id = session["me"]["client"]["id"]
    signed_in = await shared_server.call(
        None,
        "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token expiresAt } }",
        e=kim_email,
        p=PASSWORD,
    )
    assert_utc(signed_in["login"]["expiresAt"])

    # Mail goes to the primary whatever their availability: give Kim one, then write.
    await shared_server.call(
        admin,
        "mutation ($input: ChangePrimaryCounsellorInput!) { changePrimaryCounsellor(input: $input) { id } }",
        input={"clientId": kim_id, "counsellorId": anna.id, "reason": "Erstkontakt"},
    )
    request = await submit(shared_server, signed_in["login"]["token"], "MAIL", "Guten Tag")
    assert request["status"] == "ASSIGNED"
    assert_utc(request["createdAt"])
    assert_utc(request["assignedAt"])
    closed = await shared_server.call(
        anna.token, "mutation ($id: ID!) { closeRequest(id: $id) { status closedAt } }", id=request["id"]
    )
    assert closed["closeRequest"]["status"] == "CLOSED"
    assert_utc(closed["closeRequest"]["closedAt"])

    seen = await shared_server.call(
        admin,
        "query ($id: ID!) { client(id: $id) { createdAt lastLoginAt primaryCounsellorHistory { changedAt } } }",
        id=kim_id,
    )
    client = seen["client"]
    assert_utc(client["createdAt"])
    assert_utc(client["lastLoginAt"])
    history = client["primaryCounsellorHistory"]
    assert len(history) == 1
    assert_utc(history[0]["changedAt"])
