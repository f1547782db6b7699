"""Races of a state feed against its own first state (found in review): the session ending while
the first state is on its way out, and a change arriving while the first state is read. The
server runs in its own thread; the test holds the server's step with a threading.Event and lets it
go once the racing event was taken."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation

from domain.events import CounsellorStateChanged, Event, SessionsEnded
from domain.use_cases import counsellors as counsellors_use_case
from graph.feeds.feed import Feed
from tests.e2e.support import EVENT_TIMEOUT, LiveServer, create_counsellor, set_online
from tests.security.support import close_code, raw_ws, receive, subscribe

pytestmark = pytest.mark.e2e

OWN_STATE = "subscription ($id: ID) { counsellorAvailabilityChanged(counsellorId: $id) { id onlineStatus } }"


async def _until(flag: threading.Event) -> None:
    assert await asyncio.to_thread(flag.wait, EVENT_TIMEOUT), "the server never got there"


def _taken_signal(monkeypatch: pytest.MonkeyPatch, kind: type[Event]) -> threading.Event:
    """Set once a feed has taken an event of `kind`."""
    taken = threading.Event()
    original = Feed.take

    def take(self: Feed, event: Event) -> None:
        original(self, event)
        if isinstance(event, kind):
            taken.set()

    monkeypatch.setattr(Feed, "take", take)
    return taken


async def test_a_session_ended_while_the_first_state_goes_out_closes_the_socket(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Langsam")
    listening_before = server.bus_subscribers()
    sending, release = threading.Event(), threading.Event()
    original = Operation.send_next

    async def held_first_send(self: Any, result: Any) -> None:
        if self.id == "held" and not release.is_set():
            sending.set()
            await asyncio.to_thread(release.wait, EVENT_TIMEOUT)  # a client slow to read
        await original(self, result)

    monkeypatch.setattr(Operation, "send_next", held_first_send)
    ended = _taken_signal(monkeypatch, SessionsEnded)
    async with raw_ws(server, token=anna.token) as ws:
        await subscribe(ws, "held", OWN_STATE, {"id": anna.id})
        await _until(sending)
        await server.call(anna.token, "mutation { logout }")
        await _until(ended)
        release.set()
        assert await close_code(ws) == 4401
    await server.wait_for_bus_subscribers_down_to(listening_before)  # the feed let go of the bus


async def test_a_change_during_the_first_read_is_not_overwritten_by_it(
    server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await server.admin_token()
    anna = await create_counsellor(server, admin, "Veraltet")
    read, release = threading.Event(), threading.Event()
    original = counsellors_use_case.get_counsellor

    async def read_then_hold(deps: Any, viewer: Any, counsellor_id: int) -> Any:
        found = await original(deps, viewer, counsellor_id)
        if not read.is_set():
            read.set()
            await asyncio.to_thread(release.wait, EVENT_TIMEOUT)  # read, not yet sent
        return found

    monkeypatch.setattr(counsellors_use_case, "get_counsellor", read_then_hold)
    changed = _taken_signal(monkeypatch, CounsellorStateChanged)
    async with raw_ws(server, token=admin) as ws:
        await subscribe(ws, "s", OWN_STATE, {"id": anna.id})
        await _until(read)
        await set_online(server, anna.token, "ONLINE")
        await _until(changed)
        release.set()
        seen: list[str] = []
        while not seen or seen[-1] != "ONLINE":
            message = await receive(ws)
            seen.append(message["payload"]["data"]["counsellorAvailabilityChanged"]["onlineStatus"])
        assert seen in (["ONLINE"], ["OFFLINE", "ONLINE"])
