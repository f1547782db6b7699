"""The state feeds after their first state, on the wire (graphql-transport-ws): once a feed has
sent its first state it is carried by its operation's outlet, not by a generator (graph/feeds/,
graph/outlets.py). What a client sees must not change: every change in order, `complete` ends it,
and a payload shared by many never shows one viewer what only another may read."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from tests.e2e.support import LiveServer, create_counsellor, register_client, set_online, submit
from tests.security.support import assert_open, raw_ws, receive, subscribe

pytestmark = pytest.mark.e2e

STATE = "subscription ($id: ID) { counsellorAvailabilityChanged(counsellorId: $id) { id onlineStatus chatCapacity } }"
WITH_CLIENTS = """
subscription ($id: ID) {
  counsellorAvailabilityChanged(counsellorId: $id) { chatCapacity ...clients }
}
fragment clients on Counsellor { primaryClients { edges { node { displayName } } } }"""
WIDGET = "subscription { availabilityChanged { chatAvailable } }"
SET_CAPACITY = """
mutation ($capacity: Int!, $id: ID) { setChatCapacity(capacity: $capacity, counsellorId: $id) { id } }"""


async def _next(ws: ClientConnection, operation_id: str) -> dict[str, Any]:
    """The next message, which must be a `next` of `operation_id`; its data."""
    message = await receive(ws)
    assert (message["type"], message.get("id")) == ("next", operation_id), message
    assert "errors" not in message["payload"], message
    data: dict[str, Any] = message["payload"]["data"]
    return data


async def test_a_widget_gets_every_change_in_order_after_its_first_state(server: LiveServer) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Folge")
    async with raw_ws(server) as ws:
        await subscribe(ws, "w", WIDGET)
        assert await _next(ws, "w") == {"availabilityChanged": {"chatAvailable": False}}
        for turn in range(6):
            online = turn % 2 == 0
            await set_online(server, anna.token, "ONLINE" if online else "OFFLINE")
            assert await _next(ws, "w") == {"availabilityChanged": {"chatAvailable": online}}


async def test_complete_ends_a_feed_and_frees_its_id(server: LiveServer) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Ende")
    variables = {"id": anna.id}
    async with raw_ws(server, token=admin) as ws:
        await subscribe(ws, "1", STATE, variables)
        await _next(ws, "1")
        await set_online(server, anna.token, "ONLINE")
        assert (await _next(ws, "1"))["counsellorAvailabilityChanged"]["onlineStatus"] == "ONLINE"
        await ws.send('{"id": "1", "type": "complete"}')
        # A second feed on the same socket, started after the complete, marks the order: the
        # change below reaches it, and nothing of the completed one comes before.
        await subscribe(ws, "2", STATE, variables)
        await _next(ws, "2")
        await set_online(server, anna.token, "OFFLINE")
        assert (await _next(ws, "2"))["counsellorAvailabilityChanged"]["onlineStatus"] == "OFFLINE"
        # The id is free again (a taken id would close the socket with 4409).
        await subscribe(ws, "1", STATE, variables)
        assert (await _next(ws, "1"))["counsellorAvailabilityChanged"]["onlineStatus"] == "OFFLINE"
        await assert_open(ws)


async def test_colleagues_primary_clients_follow_each_watchers_visibility(server: LiveServer) -> None:
    """Three staff watch Anna: the payload of those whose document reads alike is shared; Anna's
    primary clients are read per watcher (her colleague Bert may not see her client Kim)."""
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    bert = await create_counsellor(server, admin, "Bert")
    carl = await create_counsellor(server, admin, "Carl")
    await set_online(server, anna.token, "ONLINE")
    kim = await register_client(server, "Kim")
    assert (await submit(server, kim.token))["routingReason"] == "FIRST_REQUEST"  # Anna is Kim's primary
    variables = {"id": anna.id}
    async with (
        raw_ws(server, token=admin) as admin_ws,
        raw_ws(server, token=bert.token) as bert_ws,
        raw_ws(server, token=carl.token) as carl_ws,
    ):
        await subscribe(admin_ws, "a", WITH_CLIENTS, variables)
        await subscribe(bert_ws, "b", WITH_CLIENTS, variables)
        await subscribe(carl_ws, "c", STATE, variables)
        for ws, operation_id in ((admin_ws, "a"), (bert_ws, "b"), (carl_ws, "c")):
            await _next(ws, operation_id)
        await server.call(admin, SET_CAPACITY, capacity=3, id=anna.id)
        seen_by_admin = (await _next(admin_ws, "a"))["counsellorAvailabilityChanged"]
        seen_by_bert = (await _next(bert_ws, "b"))["counsellorAvailabilityChanged"]
        seen_by_carl = (await _next(carl_ws, "c"))["counsellorAvailabilityChanged"]
    assert seen_by_admin == {
        "chatCapacity": 3,
        "primaryClients": {"edges": [{"node": {"displayName": "Kim"}}]},
    }
    assert seen_by_bert == {"chatCapacity": 3, "primaryClients": {"edges": []}}
    assert seen_by_carl == {"id": anna.id, "onlineStatus": "ONLINE", "chatCapacity": 3}
