"""Paging the client overview with cursors: a counsellor's page is a UNION ALL of parts (primary
clients, other clients of requests they hold, clients granted to a response), each cut on its
own; pages of 3 walk across the parts' boundaries, by name and by last login, with and without
filters, and the one cached statement per shape answers each viewer and filter with its own values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import update

from domain.model import AccountStatus, Client, Viewer
from domain.ports import ClientOrder, ClientQuery
from persistence.member_list import NEVER
from persistence.rows import sort_name
from persistence.tables import clients as t
from tests.integration.conftest import World, client_id, staff

NAMES = [
    "Ada",
    "bert",
    "Cem",
    "Dora",
    "Emil",
    "fiona",
    "Gül",
    "Hans",
    "Ida",
    "Jo",
    "Kai",
    "Lena",
    "Mia",
    "Nils",
]
SIZE = 3
BASE = datetime(2026, 3, 1, tzinfo=UTC)


async def _walk(world: World, viewer: Viewer, query: ClientQuery) -> tuple[list[int], set[int]]:
    """Every page of SIZE after the one before; (ids in order, the totals every page gave)."""
    found: list[int] = []
    totals: set[int] = set()
    after = None
    while True:
        async with world.deps.uow(write=False) as uow:
            page = await uow.clients.visible_page(viewer, query, SIZE, after)
        found += [c.id for _, c in page.items]
        totals.add(page.total)
        if not page.has_next:
            return found, totals
        after = page.items[-1][0]


def _expected(clients: list[Client], order: ClientOrder) -> list[int]:
    if order is ClientOrder.LAST_LOGIN:
        by_login = sorted(clients, key=lambda c: (c.last_login_at or NEVER, c.id), reverse=True)
        return [c.id for c in by_login]
    return [c.id for c in sorted(clients, key=lambda c: (sort_name(c.display_name), c.id))]


async def test_pages_cross_the_parts_of_a_counsellors_union_by_name_and_by_last_login(world: World) -> None:
    anna = await world.counsellor("Anna", chat=20)
    ben = await world.counsellor("Ben", online=False)
    viewers = [await world.client(name) for name in NAMES]
    ids = [client_id(v) for v in viewers]
    held = ids[1::4]  # Anna holds their chats, Ben is their primary
    for v in viewers[1::4]:
        await world.submit(v)
    async with world.engines.write.begin() as conn:
        await conn.execute(update(t).where(t.c.id.in_(ids[0::2])).values(primary_counsellor_id=anna.id))
        await conn.execute(update(t).where(t.c.id.in_(held)).values(primary_counsellor_id=ben.id))
        await conn.execute(update(t).where(t.c.id.in_(ids[3::5])).values(account_status="BLOCKED"))
        for i, cid in enumerate(ids):  # ties of two, and some never signed in
            at = None if i % 5 == 4 else BASE + timedelta(hours=i // 2)
            await conn.execute(update(t).where(t.c.id == cid).values(last_login_at=at))
    granted = staff(anna).granting(ids[-3]).granting(ids[-7])  # neither primary nor held
    everyone = [await world.stored_client(cid) for cid in ids]
    sees = {
        "admin": (world.admin, lambda c: True),
        "anna": (staff(anna), lambda c: c.primary_counsellor_id == anna.id or c.id in held),
        "anna granted": (
            granted,
            lambda c: (
                c.primary_counsellor_id == anna.id or c.id in held or c.id in granted.granted_client_ids
            ),
        ),
        "ben": (staff(ben), lambda c: c.primary_counsellor_id == ben.id),
    }
    filters = {
        "none": (ClientQuery(), lambda c: True),
        "active": (
            ClientQuery(account_status=AccountStatus.ACTIVE),
            lambda c: c.account_status is AccountStatus.ACTIVE,
        ),
        "blocked": (
            ClientQuery(account_status=AccountStatus.BLOCKED),
            lambda c: c.account_status is AccountStatus.BLOCKED,
        ),
        "anna's": (ClientQuery(primary_counsellor_id=anna.id), lambda c: c.primary_counsellor_id == anna.id),
        "ben's": (ClientQuery(primary_counsellor_id=ben.id), lambda c: c.primary_counsellor_id == ben.id),
    }
    for order in (ClientOrder.DISPLAY_NAME, ClientOrder.LAST_LOGIN):
        for who, (viewer, visible) in sees.items():
            for name, (query, matches) in filters.items():
                query = ClientQuery(**{**vars(query), "order": order})
                expected = _expected([c for c in everyone if visible(c) and matches(c)], order)
                found, totals = await _walk(world, viewer, query)
                assert found == expected, (order, who, name)
                assert totals == {len(expected)}, (order, who, name)
    # Pages of Anna's (with grants) by name end in one part and go on in another.
    part = (
        {cid: "primary" for cid in ids[0::2]}
        | dict.fromkeys(held, "held")
        | dict.fromkeys(granted.granted_client_ids, "granted")
    )
    walked = _expected([c for c in everyone if c.id in part], ClientOrder.DISPLAY_NAME)
    boundaries = [(part[walked[i - 1]], part[walked[i]]) for i in range(SIZE, len(walked), SIZE)]
    assert any(a != b for a, b in boundaries) and set(part.values()) == {"primary", "held", "granted"}
