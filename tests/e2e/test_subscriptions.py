"""The five subscriptions of the contract over graphql-transport-ws, against a live server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.support import (
    LiveServer,
    codes,
    create_counsellor,
    e2e_config,
    free_port,
    register_client,
    set_online,
    start_server,
    stop_server,
    submit,
    subscription,
)
from tests.services import Backend, backends
from tests.support.feeds import Predicate
from tests.support.feeds import field_is as _field_is

pytestmark = pytest.mark.e2e

COUNSELLOR_FIELDS = "id displayName email onlineStatus chatCapacity activeChatCount absent"

COUNSELLOR_AVAILABILITY = f"""
subscription ($id: ID) {{ counsellorAvailabilityChanged(counsellorId: $id) {{ {COUNSELLOR_FIELDS} }} }}"""

AVAILABILITY = """
subscription {
  availabilityChanged {
    chatAvailable mailAvailable
    primaryCounsellor { counsellorId displayName onlineStatus chatAvailable mailAvailable absent }
  }
}"""

REQUEST_ASSIGNED = (
    "subscription { requestAssigned { id status routingReason counsellor { id } client { id } } }"
)

PRIMARY_CHANGED = """
subscription ($clientId: ID) {
  primaryCounsellorChanged(clientId: $clientId) {
    id source reason
    client { id }
    previousCounsellor { id }
    newCounsellor { id }
    changedBy { id }
  }
}"""

REQUEST_UPDATED = """
subscription ($id: ID) {
  requestUpdated(id: $id) { id status channel routingReason message counsellor { id displayName email } }
}"""

CHANGE_PRIMARY = """
mutation ($input: ChangePrimaryCounsellorInput!) {
  changePrimaryCounsellor(input: $input) { id primaryCounsellor { id } }
}"""

SET_CAPACITY = """
mutation ($capacity: Int!, $id: ID) { setChatCapacity(capacity: $capacity, counsellorId: $id) { id chatCapacity } }"""


def _counsellor_is(**expected: Any) -> Predicate:
    return _field_is("counsellorAvailabilityChanged", **expected)


async def _admin_id(server: LiveServer, admin: str) -> str:
    data = await server.call(admin, "{ me { counsellor { id } } }")
    counsellor_id: str = data["me"]["counsellor"]["id"]
    return counsellor_id


# counsellorAvailabilityChanged ------------------------------------------------------------------


async def test_counsellor_availability_sends_every_counsellor_first_then_each_change(
    server: LiveServer,
) -> None:
    admin = await server.admin_token()
    admin_id = await _admin_id(server, admin)
    anna = await create_counsellor(server, admin, "Anna")
    ben = await create_counsellor(server, admin, "Ben")
    kim = await register_client(server, "Kim")

    async with server.ws(admin) as ws, subscription(server, ws, COUNSELLOR_AVAILABILITY) as feed:
        initial = [(await feed.next())["counsellorAvailabilityChanged"] for _ in range(3)]
        assert {c["id"] for c in initial} == {admin_id, anna.id, ben.id}
        by_id = {c["id"]: c for c in initial}
        assert by_id[anna.id] == {
            "id": anna.id,
            "displayName": "Anna",
            "email": anna.email,
            "onlineStatus": "OFFLINE",
            "chatCapacity": 1,
            "activeChatCount": 0,
            "absent": False,
        }

        # Online status (the next result: no fourth counsellor came first).
        await set_online(server, anna.token, "ONLINE")
        changed = (await feed.next())["counsellorAvailabilityChanged"]
        assert (changed["id"], changed["onlineStatus"], changed["chatCapacity"]) == (anna.id, "ONLINE", 1)

        # Capacity, set by the admin for Anna.
        data = await server.call(admin, SET_CAPACITY, capacity=2, id=anna.id)
        assert data["setChatCapacity"]["chatCapacity"] == 2
        changed = (await feed.next())["counsellorAvailabilityChanged"]
        assert (changed["id"], changed["chatCapacity"], changed["activeChatCount"]) == (anna.id, 2, 0)

        # A chat takes one of Anna's slots.
        request = await submit(server, kim.token)
        assert request["counsellor"]["id"] == anna.id
        changed = (await feed.next())["counsellorAvailabilityChanged"]
        assert (changed["id"], changed["activeChatCount"], changed["chatCapacity"]) == (anna.id, 1, 2)

        # Ben's change reaches an unfiltered subscriber too.
        await set_online(server, ben.token, "AWAY")
        changed = (await feed.next())["counsellorAvailabilityChanged"]
        assert (changed["id"], changed["onlineStatus"]) == (ben.id, "AWAY")
        # Nothing more (no repeat): a change of another counsellor is next.
        await server.call(admin, SET_CAPACITY, capacity=2, id=admin_id)
        await feed.nothing_before(_counsellor_is(id=admin_id, chatCapacity=2))


async def test_counsellor_availability_of_one_counsellor_only(server: LiveServer) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    ben = await create_counsellor(server, admin, "Ben")

    # A colleague (not only the admin) may follow Anna.
    async with (
        server.ws(ben.token) as ws,
        subscription(server, ws, COUNSELLOR_AVAILABILITY, id=anna.id) as feed,
    ):
        first = (await feed.next())["counsellorAvailabilityChanged"]
        assert (first["id"], first["onlineStatus"], first["email"]) == (anna.id, "OFFLINE", anna.email)

        await set_online(server, ben.token, "ONLINE")  # not Anna: filtered out
        await set_online(server, anna.token, "ONLINE")
        changed = (await feed.next())["counsellorAvailabilityChanged"]
        assert (changed["id"], changed["onlineStatus"]) == (anna.id, "ONLINE")
        await set_online(server, ben.token, "AWAY")  # filtered out again
        await set_online(server, anna.token, "AWAY")
        await feed.nothing_before(_counsellor_is(id=anna.id, onlineStatus="AWAY"))


# availabilityChanged ----------------------------------------------------------------------------


async def test_availability_for_an_anonymous_visitor(server: LiveServer) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")  # the only counsellor besides the offline admin

    async with server.ws() as ws, subscription(server, ws, AVAILABILITY) as feed:
        first = (await feed.next())["availabilityChanged"]
        assert first == {"chatAvailable": False, "mailAvailable": False, "primaryCounsellor": None}

        await set_online(server, anna.token, "ONLINE")
        online = (await feed.next())["availabilityChanged"]
        assert online == {"chatAvailable": True, "mailAvailable": False, "primaryCounsellor": None}

        await set_online(server, anna.token, "OFFLINE")
        offline = (await feed.next())["availabilityChanged"]
        assert offline == {"chatAvailable": False, "mailAvailable": False, "primaryCounsellor": None}

        # A change that does not alter availability sends nothing: the next result is the next change.
        await server.call(admin, SET_CAPACITY, capacity=3, id=anna.id)
        await set_online(server, anna.token, "ONLINE")
        await feed.nothing_before(lambda r: r["availabilityChanged"]["chatAvailable"] is True)


async def test_availability_for_a_client(server: LiveServer) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    kim = await register_client(server, "Kim")

    async with server.ws(kim.token) as ws, subscription(server, ws, AVAILABILITY) as feed:
        first = (await feed.next())["availabilityChanged"]
        assert first == {"chatAvailable": False, "mailAvailable": False, "primaryCounsellor": None}

        await set_online(server, anna.token, "ONLINE")
        assert (await feed.next())["availabilityChanged"]["chatAvailable"] is True

        # Kim's first chat makes Anna her primary and fills Anna's only slot.
        request = await submit(server, kim.token)
        assert request["routingReason"] == "FIRST_REQUEST"
        busy = (await feed.next())["availabilityChanged"]
        assert busy["chatAvailable"] is False
        assert busy["primaryCounsellor"] == {
            "counsellorId": anna.id,
            "displayName": "Anna",
            "onlineStatus": "ONLINE",
            "chatAvailable": False,
            "mailAvailable": True,  # the relationship beats mail availability NONE
            "absent": False,
        }

        await set_online(server, anna.token, "OFFLINE")
        offline = (await feed.next())["availabilityChanged"]
        assert offline["chatAvailable"] is False
        assert offline["primaryCounsellor"]["onlineStatus"] == "OFFLINE"


# requestAssigned --------------------------------------------------------------------------------


async def test_request_assigned_delivers_only_the_counsellors_own_assignments(server: LiveServer) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    ben = await create_counsellor(server, admin, "Ben")
    await set_online(server, anna.token, "ONLINE")
    await set_online(server, ben.token, "ONLINE")
    kim = await register_client(server, "Kim")
    lea = await register_client(server, "Lea")
    mia = await register_client(server, "Mia")

    async with (
        server.ws(anna.token) as anna_ws,
        server.ws(ben.token) as ben_ws,
        subscription(server, anna_ws, REQUEST_ASSIGNED) as anna_feed,
        subscription(server, ben_ws, REQUEST_ASSIGNED) as ben_feed,
    ):
        # Equal loads, both never assigned: the counsellor created first (Anna) takes it.
        first = await submit(server, kim.token)
        assert first["counsellor"]["id"] == anna.id
        got = (await anna_feed.next())["requestAssigned"]
        assert got == {
            "id": first["id"],
            "status": "ASSIGNED",
            "routingReason": "FIRST_REQUEST",
            "counsellor": {"id": anna.id},
            "client": {"id": kim.id},
        }

        # Anna holds one chat now: Ben takes the next, and it is the first Ben hears of.
        second = await submit(server, lea.token)
        assert second["counsellor"]["id"] == ben.id
        got = (await ben_feed.next())["requestAssigned"]
        assert (got["id"], got["client"]) == (second["id"], {"id": lea.id})

        # Anna heard nothing of Ben's assignment: her next one is the next she hears of.
        await server.call(admin, SET_CAPACITY, capacity=2, id=anna.id)
        third = await submit(server, mia.token)
        assert third["counsellor"]["id"] == anna.id
        await anna_feed.nothing_before(_field_is("requestAssigned", id=third["id"]))


# primaryCounsellorChanged -----------------------------------------------------------------------


async def test_primary_change_reaches_admin_and_the_counsellors_who_see_the_client(
    server: LiveServer,
) -> None:
    admin = await server.admin_token()
    admin_id = await _admin_id(server, admin)
    anna = await create_counsellor(server, admin, "Anna")
    ben = await create_counsellor(server, admin, "Ben")
    carl = await create_counsellor(server, admin, "Carl")
    await set_online(server, anna.token, "ONLINE")
    kim = await register_client(server, "Kim")

    async with (
        server.ws(admin) as admin_ws,
        server.ws(anna.token) as anna_ws,
        server.ws(ben.token) as ben_ws,
        server.ws(carl.token) as carl_ws,
        subscription(server, admin_ws, PRIMARY_CHANGED) as admin_feed,
        subscription(server, anna_ws, PRIMARY_CHANGED) as anna_feed,
        subscription(server, ben_ws, PRIMARY_CHANGED) as ben_feed,
        subscription(server, carl_ws, PRIMARY_CHANGED) as carl_feed,
    ):
        # Kim's first chat makes Anna primary automatically: admin and Anna hear of it.
        await submit(server, kim.token)
        automatic = (await admin_feed.next())["primaryCounsellorChanged"]
        assert automatic["source"] == "AUTOMATIC"
        assert automatic["client"] == {"id": kim.id}
        assert automatic["previousCounsellor"] is None
        assert automatic["newCounsellor"] == {"id": anna.id}
        assert automatic["changedBy"] is None
        assert (await anna_feed.next())["primaryCounsellorChanged"]["id"] == automatic["id"]

        # The admin hands Kim over to Ben: admin, Anna (before) and Ben (after) hear of it.
        await server.call(
            admin, CHANGE_PRIMARY, input={"clientId": kim.id, "counsellorId": ben.id, "reason": "Urlaub"}
        )
        manual = (await admin_feed.next())["primaryCounsellorChanged"]
        assert manual["source"] == "MANUAL"
        assert manual["reason"] == "Urlaub"
        assert manual["previousCounsellor"] == {"id": anna.id}
        assert manual["newCounsellor"] == {"id": ben.id}
        assert manual["changedBy"] == {"id": admin_id}
        for feed in (anna_feed, ben_feed):
            seen = (await feed.next())["primaryCounsellorChanged"]
            assert (seen["id"], seen["source"], seen["reason"]) == (manual["id"], "MANUAL", "Urlaub")
            assert seen["newCounsellor"] == {"id": ben.id}

        # The admin hands Kim over to Carl. Carl never could see Kim before: the first change he
        # hears of. Ben got the manual change only (the automatic one happened before he could see
        # Kim): this is his next.
        await server.call(
            admin, CHANGE_PRIMARY, input={"clientId": kim.id, "counsellorId": carl.id, "reason": "Team"}
        )
        for feed in (carl_feed, ben_feed):
            await feed.nothing_before(_field_is("primaryCounsellorChanged", reason="Team"))


async def test_primary_change_of_one_client_only(server: LiveServer) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    ben = await create_counsellor(server, admin, "Ben")
    kim = await register_client(server, "Kim")
    lea = await register_client(server, "Lea")

    async with (
        server.ws(admin) as ws,
        subscription(server, ws, PRIMARY_CHANGED, clientId=lea.id) as feed,
    ):
        await server.call(admin, CHANGE_PRIMARY, input={"clientId": kim.id, "counsellorId": anna.id})
        await server.call(admin, CHANGE_PRIMARY, input={"clientId": lea.id, "counsellorId": anna.id})
        change = (await feed.next())["primaryCounsellorChanged"]
        assert (change["client"], change["source"]) == ({"id": lea.id}, "MANUAL")
        assert change["reason"] is None
        # Kim's changes stay filtered out: Lea's next change is the next result.
        await server.call(admin, CHANGE_PRIMARY, input={"clientId": kim.id, "counsellorId": ben.id})
        await server.call(admin, CHANGE_PRIMARY, input={"clientId": lea.id, "counsellorId": ben.id})
        await feed.nothing_before(_field_is("primaryCounsellorChanged", newCounsellor__id=ben.id))


# requestUpdated ---------------------------------------------------------------------------------


async def test_request_updated_of_one_request_sends_its_state_first_then_queued_to_assigned(
    server: LiveServer,
) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    kim = await register_client(server, "Kim")
    queued = await submit(server, kim.token, "CHAT", "Ist jemand da?")
    assert (queued["status"], queued["counsellor"], queued["routingReason"]) == ("QUEUED", None, None)

    # The chat widget follows its queued request.
    async with (
        server.ws(kim.token) as ws,
        subscription(server, ws, REQUEST_UPDATED, id=queued["id"]) as feed,
    ):
        first = (await feed.next())["requestUpdated"]
        assert first == {
            "id": queued["id"],
            "status": "QUEUED",
            "channel": "CHAT",
            "routingReason": None,
            "message": "Ist jemand da?",
            "counsellor": None,
        }

        await set_online(server, anna.token, "ONLINE")
        assigned = (await feed.next())["requestUpdated"]
        assert assigned["id"] == queued["id"]
        assert assigned["status"] == "ASSIGNED"
        assert assigned["routingReason"] == "FIRST_REQUEST"
        # The client sees the counsellor's presence only: no e-mail.
        assert assigned["counsellor"] == {"id": anna.id, "displayName": "Anna", "email": None}


async def test_request_updated_without_id_sends_no_initial_state_then_new_requests(
    server: LiveServer,
) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Anna")
    kim = await register_client(server, "Kim")
    lea = await register_client(server, "Lea")
    older = await submit(server, kim.token, "CHAT", "Erste Nachricht")
    assert older["status"] == "QUEUED"

    async with (
        server.ws(kim.token) as kim_ws,
        server.ws(lea.token) as lea_ws,
        subscription(server, kim_ws, REQUEST_UPDATED) as kim_feed,
        subscription(server, lea_ws, REQUEST_UPDATED) as lea_feed,
    ):
        # No current state, although Kim has a queued request: a new request (a change, for its
        # own client only) is the first result.
        newer = await submit(server, kim.token, "MAIL", "Zweite Nachricht")
        assert newer["status"] == "QUEUED"
        created = (await kim_feed.next())["requestUpdated"]
        assert (created["id"], created["status"], created["channel"]) == (newer["id"], "QUEUED", "MAIL")

        # Anna comes online and takes the queued chat.
        await set_online(server, anna.token, "ONLINE")
        routed = (await kim_feed.next())["requestUpdated"]
        assert (routed["id"], routed["status"]) == (older["id"], "ASSIGNED")
        assert routed["counsellor"]["id"] == anna.id

        # Lea saw none of Kim's requests: her own new one is her first result.
        leas = await submit(server, lea.token, "MAIL", "Lea schreibt")
        await lea_feed.nothing_before(_field_is("requestUpdated", id=leas["id"]))


# Errors -----------------------------------------------------------------------------------------

STAFF_ONLY = {
    "counsellorAvailabilityChanged": COUNSELLOR_AVAILABILITY,
    "requestAssigned": REQUEST_ASSIGNED,
    "primaryCounsellorChanged": PRIMARY_CHANGED,
}
SIGNED_IN_ONLY = {**STAFF_ONLY, "requestUpdated": REQUEST_UPDATED}


async def test_subscriptions_with_an_invalid_token_are_unauthenticated(server: LiveServer) -> None:
    admin = await server.admin_token()
    header, payload, signature = admin.split(".")
    tampered = f"{header}.{payload}.{signature[::-1]}"
    for token in ("not-a-valid-token", tampered):
        async with server.ws(token) as ws:
            # availabilityChanged welcomes anonymous visitors, but not a bad token.
            for name, query in {"availabilityChanged": AVAILABILITY, **SIGNED_IN_ONLY}.items():
                async with subscription(server, ws, query, listening=False) as feed:
                    errors = await feed.error()
                    assert codes(errors) == ["UNAUTHENTICATED"], (name, errors)
                    assert "Traceback" not in repr(errors)


async def test_a_client_on_staff_subscriptions_is_forbidden(server: LiveServer) -> None:
    kim = await register_client(server, "Kim")
    async with server.ws(kim.token) as ws:
        for name, query in STAFF_ONLY.items():
            async with subscription(server, ws, query, listening=False) as feed:
                errors = await feed.error()
                assert codes(errors) == ["FORBIDDEN"], (name, errors)
        # The connection survives the refusals: a client subscription on it works.
        async with subscription(server, ws, AVAILABILITY) as feed:
            assert (await feed.next())["availabilityChanged"]["chatAvailable"] is False


async def test_anonymous_on_signed_in_subscriptions_is_unauthenticated(server: LiveServer) -> None:
    async with server.ws() as ws:
        for name, query in SIGNED_IN_ONLY.items():
            async with subscription(server, ws, query, listening=False) as feed:
                errors = await feed.error()
                assert codes(errors) == ["UNAUTHENTICATED"], (name, errors)


# The bus between processes (PostgreSQL + Redis configuration only) ------------------------------

SHARED_BUS = [param for param in backends() if getattr(param, "id", None) == "postgres"]


@asynccontextmanager
async def _server_on(backend: Backend, folder: Path, name: str) -> AsyncIterator[LiveServer]:
    """A server of its own on a new SQLite file, on the configuration's bus (the bus is what counts)."""
    port = free_port()
    config = e2e_config(f"sqlite+aiosqlite:///{folder / name}.db", backend.bus_url, port, folder)
    live = await asyncio.to_thread(start_server, config, port)
    try:
        yield live
    finally:
        await asyncio.to_thread(stop_server, live)


@pytest.mark.parametrize("backend", SHARED_BUS)
async def test_every_fresh_process_hears_the_events_of_its_deployment(
    backend: Backend, tmp_path: Path
) -> None:
    """Each process start subscribes to the bus; none may come up deaf (a subscription that never hears)."""
    deaf: list[int] = []
    for attempt in range(8):
        async with _server_on(backend, tmp_path, f"start{attempt}") as live:
            admin = await live.admin_token()
            async with live.ws() as ws, subscription(live, ws, AVAILABILITY) as feed:
                assert (await feed.next())["availabilityChanged"]["chatAvailable"] is False
                await set_online(live, admin, "ONLINE")  # the admin counsels too
                try:
                    changed = (await feed.next(5.0))["availabilityChanged"]
                except AssertionError:
                    deaf.append(attempt)
                else:
                    assert changed["chatAvailable"] is True
    assert deaf == [], f"{len(deaf)} of 8 fresh servers never heard their own events (starts {deaf})"


@pytest.mark.parametrize("backend", SHARED_BUS)
async def test_deployments_sharing_a_redis_do_not_hear_each_other(backend: Backend, tmp_path: Path) -> None:
    """Ids are per database: another deployment's events must not reach this one's subscribers."""
    async with _server_on(backend, tmp_path, "one") as one, _server_on(backend, tmp_path, "two") as two:
        admin_one = await one.admin_token()
        admin_two = await two.admin_token()
        anna = await create_counsellor(one, admin_one, "Anna")
        async with one.ws(admin_one) as ws, subscription(one, ws, COUNSELLOR_AVAILABILITY) as feed:
            first = [(await feed.next())["counsellorAvailabilityChanged"] for _ in range(2)]
            assert {(c["email"], c["onlineStatus"]) for c in first} == {
                ("admin@e2e.test", "OFFLINE"),
                (anna.email, "OFFLINE"),
            }
            # The other deployment's admin (same e-mail, same row id) goes online; then Anna here.
            # Redis delivers in the order it was sent: the foreign event would come first.
            await set_online(two, admin_two, "ONLINE")
            await set_online(one, anna.token, "ONLINE")
            await feed.nothing_before(_counsellor_is(id=anna.id, onlineStatus="ONLINE"))
        me = await one.call(admin_one, "{ me { counsellor { onlineStatus } } }")
        assert me["me"]["counsellor"]["onlineStatus"] == "OFFLINE"
