"""The SQL visibility queries (client and request lists) agree with domain.visibility; filters, order, paging."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

import pytest
from sqlalchemy import update

from domain.errors import BadUserInput
from domain.model import (
    AccountStatus,
    Client,
    MailAvailability,
    OnlineStatus,
    Request,
    RequestStatus,
    Role,
    Viewer,
)
from domain.ports import ClientQuery, Page, RequestQuery
from domain.use_cases.clients import ClientProfile, change_primary_counsellor, create_client
from domain.use_cases.counsellors import set_online_status
from domain.use_cases.reads import client_page_unchecked, request_page
from domain.use_cases.requests import assign_request, close_request
from domain.visibility import sees_client, sees_request
from persistence.rows import client_values
from persistence.tables import clients as clients_table
from tests.integration.conftest import CHAT, MAIL, World, client_id, staff

ALL = 1000
QUEENIE_CODE = "QX7Y2Z"


@dataclass
class Scene:
    world: World
    viewers: dict[str, Viewer]
    clients: dict[str, int]
    requests: dict[str, int]


def as_client(cid: int) -> Viewer:
    return Viewer(role=Role.CLIENT, client_id=cid)


async def _rewrite(world: World, cid: int, **fields: object) -> None:
    """Change stored client fields the API has no use case for, directly in the table (with the
    search key made from them)."""
    async with world.deps.uow(write=False) as uow:
        client = await uow.clients.get(cid)
    assert client is not None
    for name, value in fields.items():
        setattr(client, name, value)
    async with world.engines.write.begin() as conn:
        await conn.execute(
            update(clients_table).where(clients_table.c.id == cid).values(client_values(client))
        )


async def _build(world: World) -> Scene:
    admin = world.admin
    anna = await world.counsellor("Anna", chat=10, mail=MailAvailability.UNLIMITED)
    bert = await world.counsellor("Bert", online=False, chat=10)
    carla = await world.counsellor("Carla", online=False, chat=10)
    dora = await world.counsellor("Dora", online=False)
    clients: dict[str, int] = {}
    requests: dict[str, int] = {}

    kim = await world.client("Kim")
    clients["kim"] = client_id(kim)
    requests["kim-1"] = (await world.submit(kim, CHAT)).id  # Anna, who becomes primary
    await set_online_status(world.deps, admin, OnlineStatus.OFFLINE, anna.id)
    await set_online_status(world.deps, admin, OnlineStatus.ONLINE, bert.id)
    requests["kim-2"] = (await world.submit(kim, CHAT)).id  # Bert holds it, Anna stays primary

    lou = await world.client("lou Becker")
    clients["lou"] = client_id(lou)
    lou_request = await world.submit(lou, CHAT)  # Bert, who becomes primary
    requests["lou-1"] = lou_request.id
    await assign_request(world.deps, admin, lou_request.id, carla.id)  # Carla holds it now
    await close_request(world.deps, staff(carla), lou_request.id)  # ... and closed it
    await change_primary_counsellor(world.deps, admin, clients["lou"], anna.id, "Übergabe")

    clients["max"] = (
        await create_client(world.deps, staff(anna), ClientProfile(display_name="Max"), None)
    ).id
    nora = await world.client("nora")
    clients["nora"] = client_id(nora)
    requests["nora-mail"] = (await world.submit(nora, MAIL)).id  # Anna by mail
    await set_online_status(world.deps, admin, OnlineStatus.OFFLINE, bert.id)
    queenie = await world.client("Queenie")
    clients["queenie"] = client_id(queenie)
    requests["queenie-chat"] = (await world.submit(queenie, CHAT)).id  # queued, nobody online

    clients["oemer"] = (
        await create_client(
            world.deps,
            admin,
            ClientProfile(
                display_name="Oe", first_name="Ömer", last_name="Özdemir", email="oemer@example.org"
            ),
            None,
        )
    ).id
    clients["kim-2"] = client_id(await world.client("kim"))
    clients["kim-3"] = client_id(await world.client("KIM"))
    clients["bea"] = (
        await create_client(world.deps, staff(anna), ClientProfile(display_name="Bea"), None)
    ).id
    await _rewrite(world, clients["bea"], account_status=AccountStatus.BLOCKED)
    clients["paul"] = (
        await create_client(world.deps, admin, ClientProfile(display_name="Paul_100%"), None)
    ).id
    for name in ("anna", "dieter", "Emil", "carla", "Zoe", "bert"):
        clients[f"x-{name}"] = (
            await create_client(world.deps, admin, ClientProfile(display_name=name), None)
        ).id

    # Fixed client codes, so that searching a name never hits a random code by chance.
    for n, (name, cid) in enumerate(sorted(clients.items())):
        await _rewrite(world, cid, client_code=QUEENIE_CODE if name == "queenie" else f"9{n:05}")
    viewers = {
        "admin": admin,
        "anna": staff(anna),
        "bert": staff(bert),
        "carla": staff(carla),
        "dora": staff(dora),
        "carla-granted-lou": staff(carla).granting(clients["lou"]),
        "client-kim": kim,
        "client-queenie": queenie,
        "client-kim-granted-lou": kim.granting(clients["lou"]),
    }
    return Scene(world, viewers, clients, requests)


@pytest.fixture
async def scene(world: World) -> Scene:
    return await _build(world)


async def _everything(scene: Scene) -> tuple[list[Client], dict[int, set[int]], list[Request]]:
    async with scene.world.deps.uow(write=False) as uow:
        clients = list((await uow.clients.get_many(list(scene.clients.values()))).values())
        holders = await uow.clients.holders_of([c.id for c in clients])
    return clients, holders, await scene.world.all_requests()


def _ids(page: Page[Client] | Page[Request]) -> list[int]:
    return [item.id for _, item in page.items]


async def test_client_list_query_agrees_with_sees_client(scene: Scene) -> None:
    clients, holders, _ = await _everything(scene)
    for who, viewer in scene.viewers.items():
        expected = {c.id for c in clients if sees_client(viewer, c, holders[c.id])}
        async with scene.world.deps.uow(write=False) as uow:
            page = await uow.clients.visible_page(viewer, ClientQuery(), ALL, None)
        assert set(_ids(page)) == expected, who
        assert (page.total, page.has_next) == (len(expected), False), who


async def test_request_list_query_agrees_with_sees_request(scene: Scene) -> None:
    clients, _, requests = await _everything(scene)
    primary = {c.id: c.primary_counsellor_id for c in clients}
    for who, viewer in scene.viewers.items():
        async with scene.world.deps.uow(write=False) as uow:
            handled = {
                r.id
                for r in requests
                if viewer.counsellor_id is not None
                and await uow.requests.handled_by(r.id, viewer.counsellor_id)
            }
        expected = [
            r.id
            for r in sorted(requests, key=lambda r: -r.id)
            if sees_request(viewer, r, primary[r.client_id], r.id in handled)
        ]
        page = await request_page(scene.world.deps, viewer, RequestQuery(), ALL, None)
        assert _ids(page) == expected, who  # newest first
        assert (page.total, page.has_next) == (len(expected), False), who


async def test_who_sees_which_client_and_request_follows_the_spec(scene: Scene) -> None:
    """The scenario's facts, stated by hand, so that agreement with the domain is also the right answer."""
    c, r = scene.clients, scene.requests

    async def clients_of(who: str) -> set[int]:
        async with scene.world.deps.uow(write=False) as uow:
            return set(_ids(await uow.clients.visible_page(scene.viewers[who], ClientQuery(), ALL, None)))

    async def requests_of(who: str) -> set[int]:
        return set(_ids(await request_page(scene.world.deps, scene.viewers[who], RequestQuery(), ALL, None)))

    assert await clients_of("anna") == {c["kim"], c["lou"], c["max"], c["nora"], c["bea"]}
    assert await clients_of("bert") == {c["kim"]}  # holds Kim's second chat; Lou was handed over
    assert await clients_of("carla") == set()  # her only request is closed
    assert await clients_of("carla-granted-lou") == {c["lou"]}
    assert await clients_of("dora") == set()
    assert await clients_of("client-kim") == {c["kim"]}
    assert await clients_of("admin") == set(c.values())

    assert await requests_of("anna") == {r["kim-1"], r["kim-2"], r["lou-1"], r["nora-mail"]}
    assert await requests_of("bert") == {r["kim-2"], r["lou-1"]}  # held now, and handled before
    assert await requests_of("carla") == {r["lou-1"]}
    assert await requests_of("dora") == set()
    assert await requests_of("client-kim") == {r["kim-1"], r["kim-2"]}
    assert await requests_of("client-queenie") == {r["queenie-chat"]}


async def test_request_filters(scene: Scene) -> None:
    r = scene.requests
    deps, admin = scene.world.deps, scene.viewers["admin"]
    bert_id = scene.viewers["bert"].counsellor_id
    mails = await request_page(deps, admin, RequestQuery(channel=MAIL), ALL, None)
    assert _ids(mails) == [r["nora-mail"]]
    queued = await request_page(deps, admin, RequestQuery(status=RequestStatus.QUEUED), ALL, None)
    assert _ids(queued) == [r["queenie-chat"]]
    berts = await request_page(deps, admin, RequestQuery(counsellor_id=bert_id), ALL, None)
    assert _ids(berts) == [r["kim-2"]]
    kims = await request_page(deps, admin, RequestQuery(client_id=scene.clients["kim"]), ALL, None)
    assert _ids(kims) == [r["kim-2"], r["kim-1"]]
    # Filters narrow what the viewer may see, never widen it.
    carla_kim = await request_page(
        deps, scene.viewers["carla"], RequestQuery(client_id=scene.clients["kim"]), ALL, None
    )
    assert (carla_kim.items, carla_kim.total) == ([], 0)


# --- the client overview (client_page_unchecked, as the API runs it): filters, order, pages -------------------------------------------------------


async def _names(scene: Scene, viewer: str, query: ClientQuery) -> list[str]:
    page = await client_page_unchecked(scene.world.deps, scene.viewers[viewer], query, ALL, None)
    assert page.total == len(page.items)
    return [c.display_name for _, c in page.items]


async def test_client_filters(scene: Scene) -> None:
    anna_id = scene.viewers["anna"].counsellor_id
    assert await _names(scene, "anna", ClientQuery(primary_counsellor_id=anna_id)) == [
        "Bea",
        "Kim",
        "lou Becker",
        "Max",
        "nora",
    ]
    # primaryIsMe for Bert: he holds Kim's chat but is nobody's primary.
    assert (
        await _names(scene, "bert", ClientQuery(primary_counsellor_id=scene.viewers["bert"].counsellor_id))
        == []
    )
    unassigned = await _names(scene, "admin", ClientQuery(unassigned=True))
    assert "Queenie" in unassigned and "Oe" in unassigned and "Kim" not in unassigned
    assert set(unassigned).isdisjoint(await _names(scene, "admin", ClientQuery(unassigned=False)))
    assert await _names(scene, "anna", ClientQuery(unassigned=True)) == []
    assert await _names(scene, "admin", ClientQuery(account_status=AccountStatus.BLOCKED)) == ["Bea"]
    active = await _names(scene, "admin", ClientQuery(account_status=AccountStatus.ACTIVE))
    assert "Bea" not in active and len(active) == len(scene.clients) - 1
    assert await _names(scene, "anna", ClientQuery(primary_counsellor_id=anna_id, search="b")) == [
        "Bea",
        "lou Becker",
    ]
    assert await _names(scene, "bert", ClientQuery(search="lou")) == []  # search never widens visibility


SEARCHES = {
    "kim": ["Kim", "kim", "KIM"],
    "KIM": ["Kim", "kim", "KIM"],
    "BECK": ["lou Becker"],
    "oemer@EXAMPLE": ["Oe"],
    "_100%": ["Paul_100%"],
    "%": ["Paul_100%"],
    "_": ["Paul_100%"],
    "nobody": [],
    # German names: first and last names with umlauts, in any case.
    "Özdemir": ["Oe"],
    "özdemir": ["Oe"],
    "ÖZDEMIR": ["Oe"],
    "ömer": ["Oe"],
}


async def test_client_search_is_case_insensitive_and_literal(scene: Scene) -> None:
    for search, expected in SEARCHES.items():
        found = await _names(scene, "admin", ClientQuery(search=search))
        assert sorted(found) == sorted(expected), search


async def test_client_search_finds_the_client_code_in_any_case(scene: Scene) -> None:
    queenie = await scene.world.stored_client(scene.clients["queenie"])
    code = queenie.client_code
    assert code == QUEENIE_CODE
    for variant in (code, code.lower(), code[1:5].lower(), "x7y"):
        found = await client_page_unchecked(
            scene.world.deps, scene.viewers["admin"], ClientQuery(search=variant), ALL, None
        )
        assert queenie.id in _ids(found), variant


async def test_clients_are_ordered_by_display_name_case_insensitively_then_by_id(scene: Scene) -> None:
    listed = await client_page_unchecked(scene.world.deps, scene.viewers["admin"], ClientQuery(), ALL, None)
    clients = [c for _, c in listed.items]
    ascii_names = [c for c in clients if c.display_name.isascii()]
    assert ascii_names == sorted(ascii_names, key=lambda c: (c.display_name.casefold(), c.id))
    names = [c.display_name for c in ascii_names]
    assert names.index("anna") < names.index("Bea") < names.index("bert") < names.index("carla")
    assert names.index("dieter") < names.index("Emil") < names.index("Zoe")
    kims = [c for c in clients if c.display_name.casefold() == "kim"]
    assert [c.id for c in kims] == sorted(c.id for c in kims) and len(kims) == 3


@pytest.mark.parametrize("size", [1, 2, 3, 5])
async def test_client_pages_round_trip(scene: Scene, size: int) -> None:
    deps, admin = scene.world.deps, scene.viewers["admin"]
    full = await client_page_unchecked(deps, admin, ClientQuery(), ALL, None)
    seen: list[int] = []
    after: str | None = None
    while True:
        page = await client_page_unchecked(deps, admin, ClientQuery(), size, after)
        assert page.total == full.total
        assert len(page.items) <= size
        seen += _ids(page)
        assert page.has_next == (len(seen) < full.total)
        if not page.has_next:
            break
        after = page.items[-1][0]
    assert seen == _ids(full)


async def test_client_pages_round_trip_with_a_filter_and_a_counsellor(scene: Scene) -> None:
    deps, anna = scene.world.deps, scene.viewers["anna"]
    query = ClientQuery(account_status=AccountStatus.ACTIVE)
    full = await client_page_unchecked(deps, anna, query, ALL, None)
    first = await client_page_unchecked(deps, anna, query, 3, None)
    second = await client_page_unchecked(deps, anna, query, 3, first.items[-1][0])
    assert _ids(first) + _ids(second) == _ids(full)
    assert [c.display_name for _, c in full.items] == ["Kim", "lou Becker", "Max", "nora"]
    assert (len(first.items), first.has_next, len(second.items), second.has_next) == (3, True, 1, False)
    assert first.total == second.total == 4


async def test_request_pages_round_trip_newest_first(scene: Scene) -> None:
    deps, admin = scene.world.deps, scene.viewers["admin"]
    full = await request_page(deps, admin, RequestQuery(), ALL, None)
    assert _ids(full) == sorted(_ids(full), reverse=True)
    seen: list[int] = []
    after: str | None = None
    while True:
        page = await request_page(deps, admin, RequestQuery(), 2, after)
        assert page.total == full.total == 5
        seen += _ids(page)
        if not page.has_next:
            break
        after = page.items[-1][0]
    assert seen == _ids(full)


async def test_an_empty_page_after_the_last_item(scene: Scene) -> None:
    deps, admin = scene.world.deps, scene.viewers["admin"]
    full = await client_page_unchecked(deps, admin, ClientQuery(), ALL, None)
    after_last = await client_page_unchecked(deps, admin, ClientQuery(), 5, full.items[-1][0])
    assert (after_last.items, after_last.has_next, after_last.total) == ([], False, full.total)


def _cursor(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


MALFORMED = [
    "not a cursor",
    "",
    "%%%",
    _cursor({"a": 1}),
    _cursor(["kim"]),
    _cursor(["kim", 1, 2]),
    _cursor("kim"),
]


async def test_a_malformed_cursor_is_bad_user_input_on_after(scene: Scene) -> None:
    deps, admin = scene.world.deps, scene.viewers["admin"]
    for after in MALFORMED:
        with pytest.raises(BadUserInput) as caught:
            await client_page_unchecked(deps, admin, ClientQuery(), 5, after)
        assert caught.value.field == "after", after
    for after in ["not a cursor", _cursor([1, 2]), _cursor([])]:
        with pytest.raises(BadUserInput) as caught:
            await request_page(deps, admin, RequestQuery(), 5, after)
        assert caught.value.field == "after", after


async def test_a_client_cursor_is_no_request_cursor(scene: Scene) -> None:
    clients = await client_page_unchecked(scene.world.deps, scene.viewers["admin"], ClientQuery(), 1, None)
    with pytest.raises(BadUserInput) as caught:
        await request_page(scene.world.deps, scene.viewers["admin"], RequestQuery(), 5, clients.items[0][0])
    assert caught.value.field == "after"


FORGED = [
    ("clients", ["kim", "x"]),
    ("clients", [1, 1]),
    ("clients", ["kim", 10**30]),
    ("requests", ["x"]),
    ("requests", [None]),
    ("requests", [10**30]),
]


async def test_a_forged_cursor_with_wrong_types_is_bad_user_input_on_after(scene: Scene) -> None:
    """A cursor is opaque to clients, but one of the right shape with wrong values must not reach the SQL."""
    deps, admin = scene.world.deps, scene.viewers["admin"]
    wrong: list[str] = []
    for kind, key in FORGED:
        try:
            if kind == "clients":
                await client_page_unchecked(deps, admin, ClientQuery(), 5, _cursor(key))
            else:
                await request_page(deps, admin, RequestQuery(), 5, _cursor(key))
        except BadUserInput as exc:
            if exc.field != "after":
                wrong.append(f"{kind} {key}: field {exc.field}")
        except Exception as exc:
            wrong.append(f"{kind} {key}: {type(exc).__name__}")
        else:
            wrong.append(f"{kind} {key}: accepted")
    assert wrong == []
