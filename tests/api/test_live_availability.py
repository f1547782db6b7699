"""Availability widgets follow the process's live view: settings changes reach them, and after a
bus gap the view is read again from the database, so a change whose event was lost arrives too."""

from __future__ import annotations

import secrets
from dataclasses import replace

from strawberry.types import ExecutionResult

from domain.events import Event, StateMayBeStale
from domain.model import OnlineStatus, Role, Viewer
from domain.use_cases import Deps
from domain.use_cases.counsellors import (
    NewCounsellor,
    add_counsellor,
    set_fallback_counsellor,
    set_online_status,
)
from graph.context import AppState, Context
from graph.schema import schema
from persistence.crypto import TextCipher
from persistence.database import Engines
from persistence.event_bus import EventBus
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.api.conftest import http_request
from tests.api.test_subscription_statements import SIGNER, Subscriber

WIDGET = "subscription { availabilityChanged { chatAvailable mailAvailable } }"
ADMIN = Viewer(role=Role.ADMIN, counsellor_id=1)


async def _widget(state: AppState) -> Subscriber:
    stream = await schema.subscribe(WIDGET, {}, context_value=Context(state, http_request(None)))
    assert not isinstance(stream, ExecutionResult), stream.errors
    widget = Subscriber(stream)
    await widget.received(1)
    return widget


async def test_a_settings_change_reaches_the_widgets(deps: Deps, bus: EventBus) -> None:
    state = AppState(deps=deps, signer=SIGNER, bus=bus)
    counsellor = await add_counsellor(deps, NewCounsellor("fallback@api.test", "password-123", "Fallback"))
    widget = await _widget(state)
    try:
        assert widget.results[-1]["availabilityChanged"] == {"chatAvailable": False, "mailAvailable": False}
        await set_fallback_counsellor(deps, ADMIN, counsellor.id)  # takes mail whatever their capacity
        await widget.received(2)
        assert widget.results[-1]["availabilityChanged"] == {"chatAvailable": False, "mailAvailable": True}
    finally:
        await widget.close()


async def test_after_a_bus_gap_the_view_is_read_again(deps: Deps, engines: Engines, bus: EventBus) -> None:
    state = AppState(deps=deps, signer=SIGNER, bus=bus)
    counsellor = await add_counsellor(deps, NewCounsellor("gap@api.test", "password-123", "Gap"))
    widget = await _widget(state)
    try:

        async def lost(_: Event) -> None:
            return None

        unheard = replace(deps, uow=SqlUnitOfWorkFactory(engines, lost, TextCipher(secrets.token_bytes(32))))
        await set_online_status(unheard, ADMIN, OnlineStatus.ONLINE, counsellor.id)  # its event is lost
        await bus.publish(StateMayBeStale())  # as when the bus reconnects
        await widget.received(2)
        assert widget.results[-1]["availabilityChanged"]["chatAvailable"] is True
        assert len(widget.results) == 2
    finally:
        await widget.close()
