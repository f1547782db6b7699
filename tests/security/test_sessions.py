"""Sessions end when they should (expiry, logout, password change, deactivation), over HTTP and on
open websockets; sign-in is throttled per e-mail and per address without telling known e-mails
from unknown ones; the password policy holds.
"""

from __future__ import annotations

import logging
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.limits import Limits
from tests.e2e.support import (
    PASSWORD,
    ClientAccount,
    Counsellor,
    LiveServer,
    codes,
    create_counsellor,
    register_client,
    unique_email,
)
from tests.security.support import (
    ME,
    Servers,
    assert_open,
    call,
    call_error,
    close_code,
    post_json,
    raw_ws,
    receive,
    subscribe,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

NEW_PASSWORD = "a-new-password-22"
LOGIN = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token expiresAt } }"
LOGOUT = "mutation { logout }"
CHANGE_PASSWORD = """
mutation ($current: String!, $new: String!) {
  changePassword(currentPassword: $current, newPassword: $new) { token me { role } }
}"""
UPDATE_COUNSELLOR = """
mutation ($input: UpdateCounsellorInput!) { updateCounsellor(input: $input) { id active } }"""
COUNSELLOR_STATE = "subscription ($id: ID) { counsellorAvailabilityChanged(counsellorId: $id) { id } }"
AVAILABILITY = "subscription { availabilityChanged { chatAvailable } }"
# How long a websocket may take to learn that its session ended.
CLOSE_WITHIN = 5.0


async def attempt_login(live: LiveServer, email: str, password: str) -> dict[str, Any]:
    """The whole JSON answer to a login."""
    response = await post_json(live, {"query": LOGIN, "variables": {"e": email, "p": password}})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def token_of(live: LiveServer, email: str, password: str = PASSWORD) -> str:
    body = await attempt_login(live, email, password)
    assert "errors" not in body, body
    token: str = body["data"]["login"]["token"]
    return token


async def me_codes(live: LiveServer, token: str) -> list[str | None]:
    """The error codes of `me` with the token; [] when it works."""
    response = await post_json(live, {"query": ME}, token=token)
    body = response.json()
    if "errors" not in body:
        assert body["data"]["me"] is not None
        return []
    return [(e.get("extensions") or {}).get("code") for e in body["errors"]]


def only_error(body: dict[str, Any]) -> tuple[str, str]:
    """(code, message) of an answer with exactly one error and no data."""
    assert body.get("data") is None, body
    [error] = body["errors"]
    return error["extensions"]["code"], error["message"]


# Expiry and logout ------------------------------------------------------------------------------


async def test_tokens_expire_over_http_and_on_the_websocket(servers: Servers) -> None:
    # A TTL of 3 s: a token lives between 2 and 3 s (its expiry is rounded down to the second).
    live = servers.start(token_ttl_seconds=3)
    counsellor = await create_counsellor(live, await live.admin_token(), "Ablauf", login_now=False)
    body = await attempt_login(live, counsellor.email, PASSWORD)
    token = body["data"]["login"]["token"]
    expires_at = datetime.fromisoformat(body["data"]["login"]["expiresAt"])
    assert await me_codes(live, token) == []
    async with raw_ws(live, token=token) as ws:
        await subscribe(ws, "1", COUNSELLOR_STATE, {"id": counsellor.id})
        assert (await receive(ws))["type"] == "next"
        # The subscription ends when the token lapses, with no event needed to notice.
        assert await close_code(ws, within=CLOSE_WITHIN) == 4401
        assert datetime.now(UTC) >= expires_at - timedelta(seconds=0.2)  # then, not earlier
    # The token's own expiry (real time, in the signed token): the API refuses it from then on.
    # (JWT expiry is checked to the second: the refusal can come up to a second after expiresAt.)

    async def refused() -> bool:
        return await me_codes(live, token) == ["UNAUTHENTICATED"]

    await eventually(refused, "the expired token being refused")
    assert datetime.now(UTC) >= expires_at


async def test_logout_revokes_only_the_token_it_is_sent_with(servers: Servers) -> None:
    live = servers.start()
    counsellor = await create_counsellor(live, await live.admin_token(), "Abmeldung", login_now=False)
    first = await token_of(live, counsellor.email)
    second = await token_of(live, counsellor.email)
    assert await call(live, first, LOGOUT) == {"logout": True}
    assert await me_codes(live, first) == ["UNAUTHENTICATED"]
    assert codes(await call_error(live, first, LOGOUT)) == ["UNAUTHENTICATED"]
    assert await me_codes(live, second) == []


async def test_logout_closes_the_subscriptions_of_its_session_only(servers: Servers) -> None:
    live = servers.start()
    counsellor = await create_counsellor(live, await live.admin_token(), "AbmeldungOffen", login_now=False)
    leaving = await token_of(live, counsellor.email)
    staying = await token_of(live, counsellor.email)
    async with raw_ws(live, token=leaving) as leaving_ws, raw_ws(live, token=staying) as staying_ws:
        for ws in (leaving_ws, staying_ws):
            await subscribe(ws, "1", COUNSELLOR_STATE, {"id": counsellor.id})
            assert (await receive(ws))["type"] == "next"
        assert await call(live, leaving, LOGOUT) == {"logout": True}
        assert await close_code(leaving_ws, within=CLOSE_WITHIN) == 4401
        await assert_open(staying_ws)


# Password change and deactivation end every session -------------------------------------------


async def _account(live: LiveServer, kind: str) -> tuple[str, str, str, dict[str, Any] | None]:
    """(e-mail, token, subscription query, its variables) of a new counsellor or client."""
    if kind == "counsellor":
        counsellor: Counsellor = await create_counsellor(live, await live.admin_token(), "Wechsel")
        return counsellor.email, counsellor.token, COUNSELLOR_STATE, {"id": counsellor.id}
    client: ClientAccount = await register_client(live, "Wechsel")
    return client.email, client.token, AVAILABILITY, None


@pytest.mark.parametrize("kind", ["counsellor", "client"])
async def test_a_password_change_ends_every_session_of_the_account(servers: Servers, kind: str) -> None:
    live = servers.start()
    email, token, query, variables = await _account(live, kind)
    other_token = await token_of(live, email)
    bystander = await create_counsellor(live, await live.admin_token(), "Unbeteiligt")
    async with (
        raw_ws(live, token=other_token) as ws,
        raw_ws(live, token=bystander.token) as bystander_ws,
    ):
        await subscribe(ws, "1", query, variables)
        assert (await receive(ws))["type"] == "next"
        await subscribe(bystander_ws, "1", COUNSELLOR_STATE, {"id": bystander.id})
        assert (await receive(bystander_ws))["type"] == "next"

        changed = await call(live, token, CHANGE_PASSWORD, current=PASSWORD, new=NEW_PASSWORD)
        new_token = changed["changePassword"]["token"]

        assert await close_code(ws, within=CLOSE_WITHIN) == 4401
        await assert_open(bystander_ws)
    assert await me_codes(live, token) == ["UNAUTHENTICATED"]
    assert await me_codes(live, other_token) == ["UNAUTHENTICATED"]
    assert await me_codes(live, new_token) == []
    assert await me_codes(live, bystander.token) == []
    assert only_error(await attempt_login(live, email, PASSWORD))[0] == "UNAUTHENTICATED"
    assert await me_codes(live, await token_of(live, email, NEW_PASSWORD)) == []


async def test_deactivating_a_counsellor_ends_their_sessions(servers: Servers) -> None:
    live = servers.start()
    admin = await live.admin_token()
    counsellor = await create_counsellor(live, admin, "Deaktiviert")
    async with raw_ws(live, token=counsellor.token) as ws:
        await subscribe(ws, "1", COUNSELLOR_STATE, {"id": counsellor.id})
        assert (await receive(ws))["type"] == "next"
        await call(live, admin, UPDATE_COUNSELLOR, input={"id": counsellor.id, "active": False})
        assert await close_code(ws, within=CLOSE_WITHIN) == 4401
    assert await me_codes(live, counsellor.token) == ["UNAUTHENTICATED"]
    assert only_error(await attempt_login(live, counsellor.email, PASSWORD))[0] == "UNAUTHENTICATED"
    # Reactivation lets them sign in again, but the old sessions stay ended.
    await call(live, admin, UPDATE_COUNSELLOR, input={"id": counsellor.id, "active": True})
    assert await me_codes(live, counsellor.token) == ["UNAUTHENTICATED"]
    assert await me_codes(live, await token_of(live, counsellor.email)) == []


@pytest.mark.parametrize("action", ["blockClient", "deleteClient"])
async def test_blocking_or_deleting_a_client_ends_their_sessions_and_subscriptions(
    servers: Servers, action: str
) -> None:
    live = servers.start()
    admin = await live.admin_token()
    client = await register_client(live, "Gesperrt")
    async with raw_ws(live, token=client.token) as ws:
        await subscribe(ws, "1", AVAILABILITY, {})
        assert (await receive(ws))["type"] == "next"
        await call(live, admin, f"mutation ($id: ID!) {{ {action}(id: $id) {{ id }} }}", id=client.id)
        assert await close_code(ws, within=CLOSE_WITHIN) == 4401
    assert await me_codes(live, client.token) == ["UNAUTHENTICATED"]
    code, message = only_error(await attempt_login(live, client.email, PASSWORD))
    assert code == "UNAUTHENTICATED" and ("blocked" in message) == (action == "blockClient")


# Sign-in throttling ----------------------------------------------------------------------------


async def _failing_logins(
    live: LiveServer, email: str, count: int
) -> tuple[list[tuple[str, str]], list[float]]:
    outcomes, seconds = [], []
    for _ in range(count):
        started = time.perf_counter()
        body = await attempt_login(live, email, "wrong-password-123")
        seconds.append(time.perf_counter() - started)
        outcomes.append(only_error(body))
    return outcomes, seconds


async def test_sign_in_is_throttled_per_e_mail_alike_for_known_and_unknown_e_mails(servers: Servers) -> None:
    live = servers.start(limits=Limits())
    known = (await create_counsellor(live, await live.admin_token(), "Bekannt", login_now=False)).email
    unknown = unique_email("niemand")

    known_outcomes, known_seconds = await _failing_logins(live, known, 5)
    unknown_outcomes, unknown_seconds = await _failing_logins(live, unknown, 5)

    assert {o[0] for o in known_outcomes} == {"UNAUTHENTICATED"}
    assert known_outcomes == unknown_outcomes  # the same code and message: nothing tells them apart
    # Neither is answered markedly faster (an unknown e-mail costs a hash check too).
    known_median, unknown_median = statistics.median(known_seconds), statistics.median(unknown_seconds)
    assert max(known_median, unknown_median) < 10 * min(known_median, unknown_median), (
        known_seconds,
        unknown_seconds,
    )

    # The sixth attempt is refused, even with the right password, and alike for both.
    throttled_known = only_error(await attempt_login(live, known, PASSWORD))
    throttled_unknown = only_error(await attempt_login(live, unknown, PASSWORD))
    assert throttled_known[0] == "RATE_LIMITED"
    assert throttled_known == throttled_unknown
    # Other e-mails from the same address are not affected (10 failures < 20 per address).
    other = await create_counsellor(live, await live.admin_token(), "Andere", login_now=False)
    assert await me_codes(live, await token_of(live, other.email)) == []


async def test_sign_in_is_throttled_per_address_after_twenty_failures(servers: Servers) -> None:
    live = servers.start(limits=Limits())
    counsellor = await create_counsellor(live, await live.admin_token(), "Adresse", login_now=False)
    for _ in range(20):  # twenty e-mails, one failure each: no e-mail reaches its own limit
        assert only_error(await attempt_login(live, unique_email("streu"), "wrong-password-123"))[0] == (
            "UNAUTHENTICATED"
        )
    assert only_error(await attempt_login(live, counsellor.email, PASSWORD))[0] == "RATE_LIMITED"
    assert only_error(await attempt_login(live, unique_email("neu"), PASSWORD))[0] == "RATE_LIMITED"


# Password policy -------------------------------------------------------------------------------

REGISTER = """
mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token } }"""
CREATE_COUNSELLOR = """
mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id } }"""


def bad_input(errors: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["extensions"]["code"], e["extensions"].get("field")) for e in errors]


@pytest.fixture(scope="module")
def shared(module_servers: Servers) -> LiveServer:
    return module_servers.start()


@pytest.mark.parametrize("password", ["short-pw1", "EMAIL"], ids=["too-short", "the-e-mail"])
async def test_registration_enforces_the_password_policy(shared: LiveServer, password: str) -> None:
    email = unique_email("regel")
    if password == "EMAIL":
        password = email.upper()
    errors = await call_error(
        shared, None, REGISTER, input={"displayName": "Regel", "email": email, "password": password}
    )
    assert bad_input(errors) == [("BAD_USER_INPUT", "input.password")]


async def test_counsellor_creation_enforces_the_password_policy(shared: LiveServer) -> None:
    email = unique_email("kurz")
    errors = await call_error(
        shared,
        await shared.admin_token(),
        CREATE_COUNSELLOR,
        input={"email": email, "password": "short", "displayName": "Kurz"},
    )
    assert bad_input(errors) == [("BAD_USER_INPUT", "input.password")]


@pytest.mark.parametrize(
    "new", ["short-pw1", "EMAIL", PASSWORD], ids=["too-short", "the-e-mail", "unchanged"]
)
async def test_a_password_change_enforces_the_password_policy(shared: LiveServer, new: str) -> None:
    client = await register_client(shared, "Neu")
    if new == "EMAIL":
        new = client.email
    errors = await call_error(shared, client.token, CHANGE_PASSWORD, current=PASSWORD, new=new)
    assert bad_input(errors) == [("BAD_USER_INPUT", "newPassword")]
    assert await me_codes(shared, client.token) == []


async def test_a_wrong_current_password_is_bad_input_and_changes_nothing(shared: LiveServer) -> None:
    client = await register_client(shared, "Falsch")
    errors = await call_error(
        shared, client.token, CHANGE_PASSWORD, current="not-the-password-1", new=NEW_PASSWORD
    )
    assert bad_input(errors) == [("BAD_USER_INPUT", "currentPassword")]
    assert await me_codes(shared, client.token) == []
    assert await me_codes(shared, await token_of(shared, client.email, PASSWORD)) == []


async def test_a_password_change_needs_a_session(shared: LiveServer) -> None:
    errors = await call_error(shared, None, CHANGE_PASSWORD, current=PASSWORD, new=NEW_PASSWORD)
    assert codes(errors) == ["UNAUTHENTICATED"]


async def test_an_ended_session_closes_its_websocket_without_logging_an_error(
    servers: Servers, caplog: pytest.LogCaptureFixture
) -> None:
    """Ending a session is routine: the closing must not log ERRORs (with tracebacks) that would
    page an operator for every password change."""
    live = servers.start()
    admin = await live.admin_token()
    counsellor = await create_counsellor(live, admin, "Leise")
    caplog.set_level(logging.WARNING)
    listening_before = live.bus_subscribers()
    async with raw_ws(live, token=counsellor.token) as ws:
        await subscribe(ws, "1", COUNSELLOR_STATE, {"id": counsellor.id})
        assert (await receive(ws))["type"] == "next"
        await call(live, admin, UPDATE_COUNSELLOR, input={"id": counsellor.id, "active": False})
        assert await close_code(ws, within=CLOSE_WITHIN) == 4401
    # The server finishes the operation's task after the close: its bus listener is released last.
    await live.wait_for_bus_subscribers_down_to(listening_before)
    errors = [(r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
