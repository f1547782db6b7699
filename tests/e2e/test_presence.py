"""Presence and accept timeouts against a live server with its real timers (docs/routing.md):
a counsellor whose websocket dies goes OFFLINE after presenceTimeoutSeconds, logout sets OFFLINE at
once, and a chat nobody accepts within acceptTimeoutSeconds is offered to someone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from gql import GraphQLRequest
from gql.transport.websockets import WebsocketsTransport

from tests.e2e.support import (
    Counsellor,
    Feed,
    LiveServer,
    create_counsellor,
    register_client,
    set_online,
    submit,
)

pytestmark = pytest.mark.e2e

PRESENCE_TIMEOUT = 2
ACCEPT_TIMEOUT = 1
# The timeout, plus the 1 s timer tick, plus slack for a loaded machine.
POLL_SECONDS = 10.0

UPDATE_SETTINGS = """
mutation ($input: UpdateSettingsInput!) { updateSettings(input: $input) { primaryChatWaitSeconds } }"""

STATUS = "query ($id: ID!) { counsellor(id: $id) { id onlineStatus } }"

REQUEST = """
query ($id: ID!) {
  request(id: $id) {
    id status acceptedAt counsellor { id }
    routingTrace { outcome detail counsellor { id } }
  }
}"""

ACCEPT = "mutation ($id: ID!) { acceptRequest(id: $id) { id status acceptedAt counsellor { id } } }"

AVAILABILITY = (
    "{ availability { chatAvailable primaryCounsellor { counsellorId onlineStatus chatAvailable } } }"
)

REQUEST_ASSIGNED = "subscription { requestAssigned { id } }"

CHANGE_PRIMARY = """
mutation ($input: ChangePrimaryCounsellorInput!) {
  changePrimaryCounsellor(input: $input) { id primaryCounsellor { id } }
}"""


async def poll(check: Callable[[], Awaitable[bool]], what: str, within: float = POLL_SECONDS) -> None:
    """Wait until `check()` holds, asking every 0.2 s."""
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {within} s")
        await asyncio.sleep(0.2)


async def status_of(server: LiveServer, admin: str, counsellor: Counsellor) -> str:
    data = await server.call(admin, STATUS, id=counsellor.id)
    status: str = data["counsellor"]["onlineStatus"]
    return status


async def request_of(server: LiveServer, admin: str, request_id: str) -> dict[str, Any]:
    data = await server.call(admin, REQUEST, id=request_id)
    found: dict[str, Any] = data["request"]
    return found


async def update_settings(server: LiveServer, admin: str, **values: Any) -> None:
    await server.call(admin, UPDATE_SETTINGS, input=values)


def holder(request: dict[str, Any]) -> str | None:
    counsellor = request["counsellor"]
    return None if counsellor is None else str(counsellor["id"])


# --- presence ------------------------------------------------------------------------------------


async def test_killed_websocket_lapses_the_counsellor_and_logout_is_immediate(server: LiveServer) -> None:
    admin = await server.admin_token()
    await update_settings(server, admin, presenceTimeoutSeconds=PRESENCE_TIMEOUT)
    anna = await create_counsellor(server, admin, "Anna")
    bert = await create_counsellor(server, admin, "Bert")
    silent = await create_counsellor(server, admin, "Silent")
    kim = await register_client(server, "Kim")
    await server.call(admin, CHANGE_PRIMARY, input={"clientId": kim.id, "counsellorId": anna.id})
    lou = await register_client(server, "Lou")
    await set_online(server, anna.token, "ONLINE")
    await set_online(server, bert.token, "ONLINE")

    async with heartbeats(server, bert):  # Bert's frontend has no subscription but sends heartbeats
        # Anna's open subscription keeps her alive past the timeout (and a timer tick).
        anna_ws = server.ws(anna.token)
        anna_session = await anna_ws.connect_async()
        feed = Feed("requestAssigned")
        before = server.bus_subscribers()
        feed.task = asyncio.create_task(feed.pump(anna_session, GraphQLRequest(REQUEST_ASSIGNED)))
        try:
            await server.wait_for_bus_subscribers(before + 1)
            # A counsellor without signs of life, ONLINE from now on: once the timer lapsed them,
            # it ran past Anna's timeout too (she had no other sign of life since going ONLINE).
            await set_online(server, silent.token, "ONLINE")

            async def silent_lapsed() -> bool:
                return await status_of(server, admin, silent) == "OFFLINE"

            await poll(silent_lapsed, "the silent counsellor lapsing")
            assert await status_of(server, admin, anna) == "ONLINE", (
                "an open subscription did not keep Anna online"
            )

            # The connection dies without a goodbye (no complete, no close frame).
            transport = anna_ws.transport
            assert isinstance(transport, WebsocketsTransport)
            websocket = transport.adapter.websocket
            assert websocket is not None
            websocket.transport.abort()
        finally:
            await feed.close()
            with contextlib.suppress(Exception):
                await anna_ws.close_async()

        async def anna_offline() -> bool:
            return await status_of(server, admin, anna) == "OFFLINE"

        await poll(anna_offline, "Anna going OFFLINE after her websocket died")
        assert await status_of(server, admin, bert) == "ONLINE", "heartbeats did not keep Bert online"

        # Nothing new goes to Anna: Lou's first chat goes to Bert.
        chat = await submit(server, lou.token)
        assert (chat["status"], chat["counsellor"]["id"], chat["routingReason"]) == (
            "ASSIGNED",
            bert.id,
            "FIRST_REQUEST",
        )

        # Kim sees her primary offline and not available for a chat.
        view = (await server.call(kim.token, AVAILABILITY))["availability"]
        assert view["primaryCounsellor"] == {
            "counsellorId": anna.id,
            "onlineStatus": "OFFLINE",
            "chatAvailable": False,
        }
        assert view["chatAvailable"] is False  # Bert's only slot is taken

    # Logout sets OFFLINE at once.
    assert (await server.call(bert.token, "mutation { logout }"))["logout"] is True
    assert await status_of(server, admin, bert) == "OFFLINE"


@contextlib.asynccontextmanager
async def heartbeats(server: LiveServer, counsellor: Counsellor, every: float = 0.4) -> AsyncIterator[None]:
    """Send `heartbeat` for the counsellor every `every` seconds while the context is open."""

    async def beat() -> None:
        while True:
            data = await server.call(counsellor.token, "mutation { heartbeat { id } }")
            assert data["heartbeat"]["id"] == counsellor.id
            await asyncio.sleep(every)

    task = asyncio.create_task(beat())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task  # re-raises a heartbeat that failed


# --- accept timeouts ---------------------------------------------------------------------------


async def test_unaccepted_chat_is_offered_to_another_counsellor_and_an_accepted_one_stays(
    server: LiveServer,
) -> None:
    admin = await server.admin_token()
    await update_settings(server, admin, acceptTimeoutSeconds=ACCEPT_TIMEOUT)
    anna = await create_counsellor(server, admin, "Anna", chatCapacity=2)
    bert = await create_counsellor(server, admin, "Bert", chatCapacity=2)
    await set_online(server, anna.token, "ONLINE")
    await set_online(server, bert.token, "ONLINE")
    kim = await register_client(server, "Kim")
    lou = await register_client(server, "Lou")

    ignored = await submit(server, kim.token)
    assert (ignored["counsellor"]["id"], ignored["routingReason"]) == (anna.id, "FIRST_REQUEST")
    taken = await submit(server, lou.token)
    assert taken["counsellor"]["id"] == bert.id
    accepted = (await server.call(bert.token, ACCEPT, id=taken["id"]))["acceptRequest"]
    assert accepted["acceptedAt"] is not None

    async def offered_again() -> bool:
        trace = (await request_of(server, admin, ignored["id"]))["routingTrace"]
        return any(step["outcome"] == "ACCEPT_TIMEOUT" for step in trace)

    await poll(offered_again, "the unaccepted chat being taken back")
    trace = (await request_of(server, admin, ignored["id"]))["routingTrace"]
    steps = [(s["outcome"], s["counsellor"] and s["counsellor"]["id"], s["detail"]) for s in trace]
    taken_back = steps.index(("ACCEPT_TIMEOUT", anna.id, f"not accepted within {ACCEPT_TIMEOUT} s"))
    # Kim's primary was set by this very request: it counts as none, and Bert takes the chat.
    assert steps[taken_back + 1][:2] == ("CANDIDATE_CHOSEN", bert.id)
    assert all(step[1] != anna.id for step in steps[taken_back + 1 :] if step[0] != "ACCEPT_TIMEOUT")
    client = await server.call(
        admin, "query ($id: ID!) { client(id: $id) { primaryCounsellor { id } } }", id=kim.id
    )
    assert client["client"]["primaryCounsellor"] == {"id": bert.id}

    # Lou's chat, accepted at once, stays with Bert. Mo's chat, submitted after it and never
    # accepted, is taken back once its deadline passed: a timer round after Lou's deadline too.
    mo = await register_client(server, "Mo")
    marker = await submit(server, mo.token)
    assert marker["status"] == "ASSIGNED"

    async def marker_taken_back() -> bool:
        trace = (await request_of(server, admin, marker["id"]))["routingTrace"]
        return any(step["outcome"] == "ACCEPT_TIMEOUT" for step in trace)

    await poll(marker_taken_back, "the marker chat being taken back")
    stays = await request_of(server, admin, taken["id"])
    assert (stays["status"], holder(stays), stays["acceptedAt"]) == (
        "ASSIGNED",
        bert.id,
        accepted["acceptedAt"],
    )
    assert all(step["outcome"] != "ACCEPT_TIMEOUT" for step in stays["routingTrace"])


# --- the settings ------------------------------------------------------------------------------


async def test_settings_show_the_timeouts_they_were_given(shared_server: LiveServer) -> None:
    """docs/routing.md: change them with updateSettings, read them with settings."""
    server = shared_server
    admin = await server.admin_token()
    query = "{ primaryChatWaitSeconds presenceTimeoutSeconds acceptTimeoutSeconds }"
    data = await server.call(
        admin,
        f"mutation ($input: UpdateSettingsInput!) {{ updateSettings(input: $input) {query} }}",
        input={"presenceTimeoutSeconds": 30, "acceptTimeoutSeconds": 20},
    )
    assert data["updateSettings"] == {
        "primaryChatWaitSeconds": 0,
        "presenceTimeoutSeconds": 30,
        "acceptTimeoutSeconds": 20,
    }
    assert (await server.call(admin, f"{{ settings {query} }}"))["settings"] == data["updateSettings"]
