"""The catch-up queries on the real databases: assignments of a counsellor since a time, changes of
the requests a viewer may see, primary changes a viewer is sent (domain/use_cases/catch_up.py),
and the time of the last change every transition stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.model import PrimaryCounsellorChange, Request, RequestStatus, Role, Viewer
from domain.use_cases.catch_up import (
    Delivered,
    assignments_since,
    primary_changes_since,
    request_changes_since,
)
from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.requests import close_request
from domain.visibility import sees_primary_change
from tests.integration.conftest import World, client_id, staff


def _ids(found: list[Request] | list[PrimaryCounsellorChange]) -> list[int]:
    return [item.id for item in found]


async def test_catch_up_queries_on_both_databases(world: World) -> None:
    deps = world.deps
    anna = await world.counsellor("Anna", chat=3)
    bob = await world.counsellor("Bob", chat=3)
    carla = await world.counsellor("Carla", online=False)
    kim, lea, max_ = await world.client("Kim"), await world.client("Lea"), await world.client("Max")
    kims = await world.submit(kim)  # Anna: first request, she becomes Kim's primary
    leas = await world.submit(lea)  # Bob
    world.tick()
    since = world.clock.now()
    maxs = await world.submit(max_)  # Anna: tied on load, her last chat is the older one
    world.tick()
    closed = await close_request(deps, staff(anna), kims.id)
    world.tick()
    await change_primary_counsellor(deps, world.admin, client_id(lea), carla.id, "Urlaub")
    assert (kims.counsellor_id, leas.counsellor_id, maxs.counsellor_id) == (anna.id, bob.id, anna.id)

    # Every transition stored its time, with the offset, on both databases.
    stored = await world.request(kims.id)
    assert stored.updated_at == closed.closed_at and stored.updated_at is not None
    assert stored.updated_at.utcoffset() == timedelta(0)
    assert (await world.request(maxs.id)).updated_at == maxs.assigned_at

    # requestAssigned: the counsellor's own assignments since then (inclusive), oldest first.
    assert _ids(await assignments_since(deps, staff(anna), since, Delivered())) == [maxs.id]
    everything = await assignments_since(deps, staff(anna), datetime(2000, 1, 1, tzinfo=UTC), Delivered())
    assert [(r.id, r.status) for r in everything] == [
        (kims.id, RequestStatus.CLOSED),
        (maxs.id, RequestStatus.ASSIGNED),
    ]
    assert everything[0].message == "Hallo"  # decrypted
    assert _ids(await assignments_since(deps, staff(bob), since, Delivered())) == []
    assert _ids(await assignments_since(deps, staff(anna), maxs.assigned_at or since, Delivered())) == [
        maxs.id
    ]

    # requestUpdated: what each viewer may see, changed since then, least recently changed first.
    assert _ids(await request_changes_since(deps, staff(anna), since, Delivered())) == [maxs.id, kims.id]
    assert _ids(await request_changes_since(deps, world.admin, since, Delivered())) == [maxs.id, kims.id]
    assert _ids(await request_changes_since(deps, kim, since, Delivered())) == [kims.id]
    assert _ids(await request_changes_since(deps, lea, since, Delivered())) == []
    assert _ids(await request_changes_since(deps, staff(bob), since, Delivered())) == []
    assert _ids(await request_changes_since(deps, staff(anna), since, Delivered(), kims.id)) == [kims.id]
    assert _ids(await request_changes_since(deps, max_, since, Delivered(), kims.id)) == []

    # primaryCounsellorChanged: the SQL agrees with domain.visibility.sees_primary_change.
    async with deps.uow(write=False) as uow:
        clients = await uow.clients.get_many([client_id(c) for c in (kim, lea, max_)])
        holders = await uow.clients.holders_of(list(clients))
        history = sorted(
            (c for changes in (await uow.history.for_clients(list(clients))).values() for c in changes),
            key=lambda c: (c.changed_at, c.id),
        )
    assert len(history) == 4  # Kim, Lea and Max automatically, Lea by hand
    viewers: list[Viewer] = [world.admin, staff(anna), staff(bob), staff(carla), kim]
    for viewer in viewers:
        for moment in (datetime(2000, 1, 1, tzinfo=UTC), since):
            expected = [
                c
                for c in history
                if c.changed_at >= moment
                and viewer.is_staff
                and sees_primary_change(
                    viewer, c, clients[c.client_id].primary_counsellor_id, holders[c.client_id]
                )
            ]
            if viewer.role is Role.CLIENT:
                continue  # staff only (FORBIDDEN): covered by the unit tests
            found = await primary_changes_since(deps, viewer, moment, Delivered())
            assert _ids(found) == _ids(expected), (viewer, moment)
    lea_only = await primary_changes_since(deps, staff(bob), since, Delivered(), client_id(lea))
    assert [(c.previous_counsellor_id, c.new_counsellor_id) for c in lea_only] == [(bob.id, carla.id)]
