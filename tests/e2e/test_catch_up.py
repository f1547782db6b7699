"""Reconnecting with `since`: a counsellor app or chat widget that lost its connection misses nothing.

requestAssigned, requestUpdated and primaryCounsellorChanged first send what changed since the
given time (inclusive: the last item the client saw comes again, at least once), then each change.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.support import (
    LiveServer,
    codes,
    create_counsellor,
    register_client,
    set_online,
    submit,
    subscription,
)
from tests.support.feeds import Feed, field_is

pytestmark = pytest.mark.e2e

ASSIGNED = """
subscription ($since: DateTime) { requestAssigned(since: $since) { id status assignedAt client { id } } }"""

UPDATED = """
subscription ($id: ID, $since: DateTime) { requestUpdated(id: $id, since: $since) { id status updatedAt } }"""

PRIMARY = """
subscription ($since: DateTime) {
  primaryCounsellorChanged(since: $since) { id changedAt client { id } newCounsellor { id } }
}"""

CLOSE = "mutation ($id: ID!) { closeRequest(id: $id) { id status updatedAt } }"
SET_CAPACITY = "mutation ($c: Int!, $id: ID) { setChatCapacity(capacity: $c, counsellorId: $id) { id } }"


async def _next(feed: Feed, field: str) -> dict[str, Any]:
    found: dict[str, Any] = (await feed.next())[field]
    return found


async def test_a_counsellor_app_that_reconnects_with_since_gets_what_it_missed_first(
    server: LiveServer,
) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    await server.call(admin, SET_CAPACITY, c=5, id=anna.id)
    await set_online(server, anna.token, "ONLINE")
    kim, lea, mia = [await register_client(server, name) for name in ("Kim", "Lea", "Mia")]

    async with server.ws(anna.token) as ws, subscription(server, ws, ASSIGNED) as feed:
        kims = await submit(server, kim.token)
        seen = await _next(feed, "requestAssigned")
        assert (seen["id"], seen["status"]) == (kims["id"], "ASSIGNED")
    # Offline now: Lea's chat is routed to Anna, Kim's is closed.
    leas = await submit(server, lea.token)
    assert leas["counsellor"]["id"] == anna.id
    await server.call(admin, CLOSE, id=kims["id"])

    async with (
        server.ws(anna.token) as ws,
        subscription(server, ws, ASSIGNED, since=seen["assignedAt"]) as feed,
    ):
        again = await _next(feed, "requestAssigned")  # the last one seen, as it is now
        assert (again["id"], again["status"], again["assignedAt"]) == (
            kims["id"],
            "CLOSED",
            seen["assignedAt"],
        )
        missed = await _next(feed, "requestAssigned")
        assert (missed["id"], missed["status"], missed["client"]) == (leas["id"], "ASSIGNED", {"id": lea.id})
        # ... then each new assignment, live.
        mias = await submit(server, mia.token)
        await feed.nothing_before(field_is("requestAssigned", id=mias["id"]))


async def test_a_chat_widget_and_a_staff_app_catch_up_on_request_and_primary_changes(
    server: LiveServer,
) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    await server.call(admin, SET_CAPACITY, c=5, id=anna.id)
    await set_online(server, anna.token, "ONLINE")
    kim, lea = await register_client(server, "Kim"), await register_client(server, "Lea")

    async with (
        server.ws(kim.token) as kim_ws,
        server.ws(admin) as admin_ws,
        subscription(server, kim_ws, UPDATED) as kims_updates,
        subscription(server, admin_ws, PRIMARY) as primaries,
    ):
        kims = await submit(server, kim.token)
        last_state = await kims_updates.wait_for(field_is("requestUpdated", id=kims["id"], status="ASSIGNED"))
        first_primary = await _next(primaries, "primaryCounsellorChanged")
        assert first_primary["client"] == {"id": kim.id}
    # Both lose their connection; meanwhile Kim's chat is closed and Lea gets Anna as primary.
    closed = (await server.call(anna.token, CLOSE, id=kims["id"]))["closeRequest"]
    leas = await submit(server, lea.token)

    since = last_state["requestUpdated"]["updatedAt"]
    async with (
        server.ws(kim.token) as kim_ws,
        server.ws(admin) as admin_ws,
        subscription(server, kim_ws, UPDATED, since=since) as kims_updates,
        subscription(server, admin_ws, PRIMARY, since=first_primary["changedAt"]) as primaries,
    ):
        # Kim sees her own request only, in its current state (Lea's is not hers).
        assert await _next(kims_updates, "requestUpdated") == {
            "id": kims["id"],
            "status": "CLOSED",
            "updatedAt": closed["updatedAt"],
        }
        assert (await _next(primaries, "primaryCounsellorChanged"))["id"] == first_primary["id"]  # again
        missed = await _next(primaries, "primaryCounsellorChanged")
        assert (missed["client"], missed["newCounsellor"]) == ({"id": lea.id}, {"id": anna.id})
        assert leas["counsellor"]["id"] == anna.id
        # Then live: Kim's next request reaches her feed, and nothing older came in between.
        again = await submit(server, kim.token)
        await kims_updates.nothing_before(field_is("requestUpdated", id=again["id"]))


async def test_since_without_an_offset_is_bad_user_input(server: LiveServer) -> None:
    admin = await server.admin_token()
    async with server.ws(admin) as ws:
        for query in (ASSIGNED, UPDATED, PRIMARY):
            async with subscription(server, ws, query, listening=False, since="2026-12-01T10:00:00") as feed:
                errors = await feed.error()
                assert codes(errors) == ["BAD_USER_INPUT"], errors
                assert errors[0]["extensions"].get("field") == "since", errors
