"""Scale-out: two processes on one database and one Redis bus behave as one service.

A subscriber on process A hears what is done on process B; 200 racing first requests spread
over both processes never overfill a counsellor nor make two primaries; slots freed on either
process dispatch each queued request exactly once; and another deployment that happens to use
the same Redis is not heard.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from typing import Any

from gql.client import AsyncClientSession
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.multiprocess.support import (
    Api,
    ClientAccount,
    Cluster,
    Feed,
    GraphQLErrors,
    Node,
    Snapshot,
    Staff,
    global_id,
    needs_services,
    row_id,
    settled,
    subscribed,
    until_listening,
    ws_client,
)

pytestmark = needs_services

COUNSELLOR_AVAILABILITY = """
subscription ($id: ID) {
  counsellorAvailabilityChanged(counsellorId: $id) { id email onlineStatus chatCapacity activeChatCount }
}"""

AVAILABILITY = """
subscription {
  availabilityChanged { chatAvailable mailAvailable primaryCounsellor { counsellorId chatAvailable } }
}"""

REQUEST_ASSIGNED = """
subscription { requestAssigned { id status channel routingReason counsellor { id } client { id } } }"""

PRIMARY_CHANGED = """
subscription {
  primaryCounsellorChanged {
    id source reason client { id } previousCounsellor { id } newCounsellor { id } changedBy { id }
  }
}"""

REQUEST_UPDATED = """
subscription ($id: ID) {
  requestUpdated(id: $id) { id status channel routingReason counsellor { id } client { id } }
}"""

CHANGE_PRIMARY = """
mutation ($input: ChangePrimaryCounsellorInput!) {
  changePrimaryCounsellor(input: $input) { id primaryCounsellor { id } }
}"""

Predicate = Callable[[dict[str, Any]], bool]


def _field(name: str, **expected: Any) -> Predicate:
    """The result's `name` field has the `expected` values (`a__b` looks into nested objects)."""

    def matches(item: dict[str, Any]) -> bool:
        for key, value in expected.items():
            current: Any = item[name]
            for part in key.split("__"):
                current = None if current is None else current.get(part)
            if current != value:
                return False
        return True

    return matches


# Events across processes ------------------------------------------------------------------------


async def test_a_subscriber_on_one_process_hears_mutations_on_the_other(
    cluster: Cluster, api: Api, admin: Staff
) -> None:
    b = cluster.b
    xenia = await api.create_counsellor(b, admin, "Xenia")  # OFFLINE, one chat slot
    yusuf = await api.create_counsellor(b, admin, "Yusuf")
    kim = await api.register_client(b, "Kim")
    # Probes, for the subscriptions that send no current state: a client whose primary changes
    # back and forth, and a client of Xenia whose mail requests go straight to her.
    toggled = await api.register_client(b, "Probe Toggle")
    mailer = await api.register_client(b, "Probe Mail")
    await api.call(b, admin.token, CHANGE_PRIMARY, input={"clientId": mailer.id, "counsellorId": xenia.id})
    toggle_to = [None, yusuf.id]

    async def change_toggled_primary() -> None:
        toggle_to.reverse()
        await api.call(
            b, admin.token, CHANGE_PRIMARY, input={"clientId": toggled.id, "counsellorId": toggle_to[0]}
        )

    async def mail_to_xenia() -> None:
        await api.submit(b, mailer, "MAIL")

    def xenia_is(**expected: Any) -> Predicate:
        return _field("counsellorAvailabilityChanged", id=xenia.id, email=xenia.email, **expected)

    async with contextlib.AsyncExitStack() as stack:
        as_admin = await stack.enter_async_context(ws_client(cluster.a, admin.token))
        as_xenia = await stack.enter_async_context(ws_client(cluster.a, xenia.token))
        as_kim = await stack.enter_async_context(ws_client(cluster.a, kim.token))

        async def follow(session: AsyncClientSession, name: str, query: str, **variables: Any) -> Feed:
            return await stack.enter_async_context(subscribed(session, query, name=name, **variables))

        xenia_state = await follow(
            as_admin, "counsellorAvailabilityChanged", COUNSELLOR_AVAILABILITY, id=xenia.id
        )
        all_updates = await follow(as_admin, "requestUpdated (admin)", REQUEST_UPDATED)
        primaries = await follow(as_admin, "primaryCounsellorChanged", PRIMARY_CHANGED)
        assigned = await follow(as_xenia, "requestAssigned", REQUEST_ASSIGNED)
        availability = await follow(as_kim, "availabilityChanged", AVAILABILITY)

        # Current state first, where the contract says so.
        await xenia_state.wait_for(xenia_is(onlineStatus="OFFLINE"))
        assert (await availability.next())["availabilityChanged"]["chatAvailable"] is False
        await until_listening(
            primaries, change_toggled_primary, _field("primaryCounsellorChanged", client__id=toggled.id)
        )
        await until_listening(assigned, mail_to_xenia, _field("requestAssigned", client__id=mailer.id))
        await until_listening(all_updates, mail_to_xenia, _field("requestUpdated", client__id=mailer.id))

        # B: Xenia comes online.
        await api.set_online(b, admin, xenia.id, "ONLINE")
        await xenia_state.wait_for(xenia_is(onlineStatus="ONLINE"))
        await availability.wait_for(_field("availabilityChanged", chatAvailable=True))

        # B: Kim's first chat goes to Xenia, who becomes primary and is then full.
        submitted = await api.submit(b, kim)
        request_id = submitted["id"]
        assert submitted["status"] == "ASSIGNED" and submitted["counsellor"]["id"] == xenia.id, submitted
        routed = await assigned.wait_for(_field("requestAssigned", id=request_id))
        assert routed["requestAssigned"] == {
            "id": request_id,
            "status": "ASSIGNED",
            "channel": "CHAT",
            "routingReason": "FIRST_REQUEST",
            "counsellor": {"id": xenia.id},
            "client": {"id": kim.id},
        }
        automatic = await primaries.wait_for(_field("primaryCounsellorChanged", client__id=kim.id))
        assert automatic["primaryCounsellorChanged"] | {"id": None} == {
            "id": None,
            "source": "AUTOMATIC",
            "reason": None,
            "client": {"id": kim.id},
            "previousCounsellor": None,
            "newCounsellor": {"id": xenia.id},
            "changedBy": None,
        }
        await all_updates.wait_for(_field("requestUpdated", id=request_id, status="ASSIGNED"))
        await xenia_state.wait_for(xenia_is(activeChatCount=1))
        full = await availability.wait_for(_field("availabilityChanged", chatAvailable=False))
        assert full["availabilityChanged"]["primaryCounsellor"] == {
            "counsellorId": xenia.id,
            "chatAvailable": False,
        }

        # A: Kim follows the request (current state first); B: Xenia closes it.
        followed = await follow(as_kim, "requestUpdated (Kim)", REQUEST_UPDATED, id=request_id)
        current = await followed.wait_for(_field("requestUpdated", id=request_id))
        assert current["requestUpdated"]["status"] == "ASSIGNED"
        await api.close(b, xenia, request_id)
        await followed.wait_for(_field("requestUpdated", id=request_id, status="CLOSED"))
        await all_updates.wait_for(_field("requestUpdated", id=request_id, status="CLOSED"))
        await xenia_state.wait_for(xenia_is(activeChatCount=0))
        await availability.wait_for(_field("availabilityChanged", chatAvailable=True))

        # B: an admin hands Kim over to Yusuf.
        await api.call(
            b,
            admin.token,
            CHANGE_PRIMARY,
            input={"clientId": kim.id, "counsellorId": yusuf.id, "reason": "Urlaub"},
        )
        manual = await primaries.wait_for(
            _field("primaryCounsellorChanged", client__id=kim.id, source="MANUAL")
        )
        assert manual["primaryCounsellorChanged"] | {"id": None} == {
            "id": None,
            "source": "MANUAL",
            "reason": "Urlaub",
            "client": {"id": kim.id},
            "previousCounsellor": {"id": xenia.id},
            "newCounsellor": {"id": yusuf.id},
            "changedBy": {"id": admin.id},
        }


async def test_another_deployment_on_the_same_redis_is_not_heard(
    cluster: Cluster, api: Api, admin: Staff, stranger: Node
) -> None:
    """Events belong to one deployment: its processes, its database.

    A second deployment (process C, a database of its own) publishing on the same Redis must
    neither show its counsellors to this deployment's staff nor break their subscriptions.
    """
    b = cluster.b
    toggled = await api.register_client(b, "Probe Toggle")
    our_yusuf = await api.create_counsellor(b, admin, "Yusuf")
    toggle_to = [None, our_yusuf.id]

    async def change_toggled_primary() -> None:
        toggle_to.reverse()
        await api.call(
            b, admin.token, CHANGE_PRIMARY, input={"clientId": toggled.id, "counsellorId": toggle_to[0]}
        )

    their_admin = await api.admin(stranger)
    zora = await api.create_counsellor(stranger, their_admin, "Zora Fremd")
    their_client = await api.register_client(stranger, "Fremder Klient")

    async with contextlib.AsyncExitStack() as stack:
        as_admin = await stack.enter_async_context(ws_client(cluster.a, admin.token))
        everyone = await stack.enter_async_context(subscribed(as_admin, COUNSELLOR_AVAILABILITY))
        primaries = await stack.enter_async_context(subscribed(as_admin, PRIMARY_CHANGED))
        await everyone.wait_for(_field("counsellorAvailabilityChanged", id=our_yusuf.id))
        await until_listening(
            primaries, change_toggled_primary, _field("primaryCounsellorChanged", client__id=toggled.id)
        )

        # The other deployment works: a counsellor comes online, a client gets a primary.
        await api.set_online(stranger, their_admin, zora.id, "ONLINE")
        await api.call(
            stranger,
            their_admin.token,
            CHANGE_PRIMARY,
            input={"clientId": their_client.id, "counsellorId": zora.id},
        )
        # Then this deployment changes something on B: once A's subscribers have heard that,
        # they have heard whatever the other deployment published before.
        await api.set_online(b, admin, our_yusuf.id, "ONLINE")
        await everyone.wait_for(
            _field("counsellorAvailabilityChanged", id=our_yusuf.id, onlineStatus="ONLINE")
        )
        await change_toggled_primary()
        await primaries.wait_for(_field("primaryCounsellorChanged", client__id=toggled.id))

        # Everything published before those markers has arrived (one channel, in order).
        heard = everyone.skipped + everyone.taken()
        foreign = [e for e in heard if e["counsellorAvailabilityChanged"]["email"] == zora.email]
        assert foreign == [], f"staff of this deployment saw a counsellor of another one: {foreign}"
        assert primaries.errors == [], f"another deployment's event broke a subscription: {primaries.errors}"


def _assert_consistent(state: Snapshot, ours: set[int]) -> None:
    """No counsellor over capacity or miscounted; every request routed at most once, to its holder."""
    assert state.load_problems() == []
    for row in state.of(ours):
        assert row.channel == "CHAT"
        handlers = state.handlers.get(row.id, [])
        if row.status == "QUEUED":
            assert handlers == [] and row.counsellor_id is None, row
        else:
            assert row.counsellor_id is not None and handlers == [row.counsellor_id], (row, handlers)


# Freed slots dispatch the queue exactly once ----------------------------------------------------


async def test_slots_freed_on_either_process_dispatch_each_queued_request_once(
    cluster: Cluster, api: Api, admin: Staff, db: AsyncEngine
) -> None:
    clients = await api.register_clients(cluster, 30, "Queue client ")
    await asyncio.gather(
        *(
            api.create_counsellor(cluster.node(i), admin, f"Free{i}", capacity=2, online=True)
            for i in range(3)
        )
    )
    slots = 3 * 2
    responses = await asyncio.gather(
        *(api.submit(cluster.node(i), c, key=f"queue-{i}") for i, c in enumerate(clients))
    )
    ours = {row_id(r["id"], "Request") for r in responses}
    assert len(ours) == 30

    def assigned(s: Snapshot) -> set[int]:
        return {r.id for r in s.of(ours) if r.status == "ASSIGNED"}

    def full(s: Snapshot) -> bool:
        return len(assigned(s)) >= slots

    state = await settled(db, full)
    _assert_consistent(state, ours)
    assert len(assigned(state)) == slots
    queued = {r.id for r in state.of(ours) if r.status == "QUEUED"}
    assert len(queued) == 30 - slots

    async def free_and_check(closing: list[tuple[int, int]]) -> None:
        """Close (process number, request) pairs at once; exactly as many queued requests move up."""
        nonlocal state, queued
        before = assigned(state)
        await asyncio.gather(
            *(api.close(cluster.node(n), admin, global_id("Request", request)) for n, request in closing)
        )
        state = await settled(db, full)
        _assert_consistent(state, ours)
        closed = {r.id for r in state.of(ours) if r.status == "CLOSED"}
        assert {request for _, request in closing} <= closed
        now = assigned(state)
        moved = now - before
        assert len(now) == slots, f"{len(now)} assigned after freeing {len(closing)} of {slots} slots"
        assert len(moved) == len(closing) and moved <= queued, (moved, queued)
        if len(closing) == 1:  # a freed slot takes the oldest queued request (rule 5)
            assert moved == {min(queued)}, (moved, sorted(queued))
        queued -= moved
        assert {r.id for r in state.of(ours) if r.status == "QUEUED"} == queued

    # Three closes on process A, one after another.
    for request in sorted(assigned(state))[:3]:
        await free_and_check([(0, request)])
    # Every slot freed at once, the closes spread over both processes.
    await free_and_check([(n, request) for n, request in enumerate(sorted(assigned(state)))])
    # Four at once on process A alone.
    await free_and_check([(0, request) for request in sorted(assigned(state))[:4]])
    assert len(queued) == 30 - slots - 3 - slots - 4


# 200 racing first requests ----------------------------------------------------------------------


async def test_racing_first_requests_on_both_processes_respect_capacity_and_make_one_primary(
    cluster: Cluster, api: Api, admin: Staff, db: AsyncEngine
) -> None:
    clients = await api.register_clients(cluster, 100, "Rush client ")
    counsellors = await asyncio.gather(
        *(
            api.create_counsellor(cluster.node(i), admin, f"Rush{i}", capacity=5, online=True)
            for i in range(4)
        )
    )
    slots = 4 * 5

    async def submit(number: int, client: ClientAccount) -> dict[str, Any] | GraphQLErrors:
        try:  # each client's two requests go to A and B at once
            return await api.submit(cluster.node(number), client, key=f"rush-{number}")
        except GraphQLErrors as exc:
            return exc

    # All start in the same turn of the event loop, none before the last is created.
    answers = await asyncio.gather(*(submit(2 * i + j, c) for i, c in enumerate(clients) for j in range(2)))
    print(f"submits retried after SERVICE_UNAVAILABLE: {dict(api.retried)}")

    failed = [a for a in answers if isinstance(a, GraphQLErrors)]
    assert not failed, f"{len(failed)} submits failed, codes {Counter(c for f in failed for c in f.codes)}"
    responses = [a for a in answers if isinstance(a, dict)]
    ids = [row_id(r["id"], "Request") for r in responses]
    assert len(set(ids)) == 200, "every submit made a request of its own"

    ours = set(ids)
    state = await settled(db, lambda s: sum(r.status == "ASSIGNED" for r in s.of(ours)) >= slots, seconds=20)
    _assert_consistent(state, ours)
    assert Counter(r.status for r in state.of(ours)) == {"ASSIGNED": slots, "QUEUED": 200 - slots}
    held = state.held_chats()
    staff_ids = {row_id(c.id, "Counsellor") for c in counsellors}
    assert {c: held[c] for c in staff_ids} == dict.fromkeys(staff_ids, 5)
    for response, request_id in zip(responses, ids, strict=True):
        stored = state.requests[request_id]
        if response["status"] == "ASSIGNED":  # what a submit reported as routed stayed so
            assert stored.status == "ASSIGNED"
            assert stored.counsellor_id == row_id(response["counsellor"]["id"], "Counsellor")

    # Per client: one automatic primary at most, and only if one of its requests was routed.
    by_client: dict[int, list[int]] = {}
    for request_id in ids:
        by_client.setdefault(state.requests[request_id].client_id, []).append(request_id)
    assert sorted(by_client) == sorted(row_id(c.id, "Client") for c in clients)
    for client_id, request_ids in by_client.items():
        mine = state.of(request_ids)
        routed = [r for r in mine if r.status == "ASSIGNED"]
        automatic = state.automatic.get(client_id, [])
        if not routed:
            assert automatic == [] and state.primaries[client_id] is None, (client_id, automatic)
            continue
        first = [r for r in routed if r.routing_reason == "FIRST_REQUEST"]
        assert len(first) == 1, f"client {client_id}: {mine}"
        assert automatic == [(None, first[0].counsellor_id)], f"client {client_id}: {automatic} {mine}"
        assert state.primaries[client_id] == first[0].counsellor_id
        for other in routed:  # the other request was routed as a second one (rule 6)
            if other is not first[0]:
                to_primary = other.counsellor_id == first[0].counsellor_id
                assert other.routing_reason == ("PRIMARY_COUNSELLOR" if to_primary else "PRIMARY_UNAVAILABLE")

    # The API agrees with the database.
    data = await api.call(cluster.a, admin.token, "{ counsellors { id chatCapacity activeChatCount } }")
    loads = {c["id"]: (c["activeChatCount"], c["chatCapacity"]) for c in data["counsellors"]}
    assert {c.id: loads[c.id] for c in counsellors} == {c.id: (5, 5) for c in counsellors}
