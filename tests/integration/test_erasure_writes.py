"""Writes about a client that reach the database after the client's erasure (issue 8).

A resolver checks the token in one transaction and writes in the next: an erasure committed in
between must not be followed by a new request carrying the client's words, nor by a new primary.
"""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import Conflict, Unauthenticated
from domain.model import Channel, RequestStatus
from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.privacy import erase_client
from domain.use_cases.requests import submit_request
from tests.integration.conftest import World, client_id

ROUNDS = 10
SUBMITS = 4


async def requests_of(world: World, cid: int) -> list[tuple[RequestStatus, str | None]]:
    async with world.deps.uow(write=False) as uow:
        return [(r.status, r.message) for r in await uow.requests.of_client(cid)]


async def test_a_submit_whose_token_was_checked_before_the_erasure_stores_nothing(world: World) -> None:
    await world.counsellor("Anna")
    kim = await world.client()  # the viewer a token check produced, before the erasure
    await erase_client(world.deps, world.admin, client_id(kim))
    with pytest.raises(Unauthenticated):
        await submit_request(world.deps, kim, Channel.CHAT, "Ich brauche Hilfe", None, None)
    assert await requests_of(world, client_id(kim)) == []


async def test_submits_racing_an_erasure_leave_no_text_and_no_open_request(world: World) -> None:
    await world.counsellor("Anna", chat=50)
    for n in range(ROUNDS):
        kim = await world.client()
        submits = [
            submit_request(world.deps, kim, Channel.MAIL, f"Nachricht {n}.{i}", None, None)
            for i in range(SUBMITS)
        ]
        outcomes = await asyncio.gather(
            erase_client(world.deps, world.admin, client_id(kim)), *submits, return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Unauthenticated):
                raise outcome
        stored = sum(not isinstance(o, BaseException) for o in outcomes[1:])
        assert await requests_of(world, client_id(kim)) == [(RequestStatus.CANCELLED, None)] * stored


async def test_an_erased_client_gets_no_primary_counsellor_by_hand(world: World) -> None:
    anna = await world.counsellor("Anna")
    kim = await world.client()
    await erase_client(world.deps, world.admin, client_id(kim))
    with pytest.raises(Conflict):
        await change_primary_counsellor(world.deps, world.admin, client_id(kim), anna.id, "Übernahme")
    assert await world.primary_of(kim) is None
    assert [h.reason for h in await world.history(kim)] == []
