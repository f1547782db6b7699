"""The client folder on each database: notes and monitoring texts encrypted at rest, pages, the
statistics' month grouping (SQLite strftime, PostgreSQL to_char), erasure, and the race of an edit
with a delete."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select

from domain.errors import Conflict, Forbidden, NotFound
from domain.model import Channel, Viewer
from domain.monitoring import MAX_DURATION_MINUTES, MAX_ENTRY_NOTE, MAX_OUTCOME
from domain.notes import MAX_NOTE
from domain.use_cases import monitoring as m
from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.notes import add_note, delete_note, edit_note, notes_of_client
from domain.use_cases.privacy import erase_client
from persistence.tables import monitoring_entries, notes
from tests.integration.conftest import World, client_id, staff
from tests.integration.test_write_races import ROUNDS, race

CHAT, MAIL = Channel.CHAT, Channel.MAIL


async def primary_client(world: World) -> tuple[Viewer, int]:
    """A counsellor P and a client whose primary P is."""
    p = staff(await world.counsellor("Paula", online=False))
    cid = client_id(await world.client())
    await change_primary_counsellor(world.deps, world.admin, cid, p.counsellor_id, None)
    return p, cid


async def topics(world: World) -> tuple[int, int]:
    category, _ = await m.add_monitoring_topic(world.deps, world.admin, "Sucht", None)
    alcohol, _ = await m.add_monitoring_topic(world.deps, world.admin, "Alkohol", category.id)
    cannabis, _ = await m.add_monitoring_topic(world.deps, world.admin, "Cannabis", category.id)
    return alcohol.id, cannabis.id


async def test_notes_are_encrypted_at_rest_and_paged_newest_first(world: World) -> None:
    p, cid = await primary_client(world)
    written = []
    for n in range(3):
        world.tick()
        written.append(await add_note(world.deps, p, cid, f"Notiz {n}: Schulden und Schlaf 😀"))
    async with world.engines.read.connect() as conn:
        stored = [r.text for r in await conn.execute(select(notes.c.text))]
    assert all(s.startswith("v1:") and "Schulden" not in s for s in stored)

    first = await notes_of_client(world.deps, p, cid, 2, None)
    assert first is not None and first.total == 3 and first.has_next
    assert [n.text for _, n in first.items] == [
        "Notiz 2: Schulden und Schlaf 😀",
        "Notiz 1: Schulden und Schlaf 😀",
    ]
    rest = await notes_of_client(world.deps, p, cid, 2, first.items[-1][0])
    assert rest is not None and [n.id for _, n in rest.items] == [written[0].id] and not rest.has_next

    edited = await edit_note(world.deps, p, written[0].id, "Korrigiert.")
    async with world.deps.uow(write=False) as uow:
        assert await uow.notes.get(written[0].id) == edited


async def test_an_edit_racing_a_delete_either_lands_first_or_finds_the_note_gone(world: World) -> None:
    p, cid = await primary_client(world)
    outcomes = set()
    for n in range(ROUNDS):
        note = await add_note(world.deps, p, cid, f"Runde {n}")
        edited, deleted = await race(
            edit_note(world.deps, p, note.id, "Bearbeitet."),
            delete_note(world.deps, world.admin, note.id),
            refusals=(NotFound,),
        )
        assert deleted == note.id  # the delete always succeeds: the edit never locks it out for good
        outcomes.add("edit first" if not isinstance(edited, NotFound) else "delete first")
        async with world.deps.uow(write=False) as uow:
            assert await uow.notes.get(note.id) is None  # never brought back by the edit
    assert outcomes <= {"edit first", "delete first"}


async def test_monitoring_entries_round_trip_with_their_texts_encrypted(world: World) -> None:
    p, cid = await primary_client(world)
    alcohol, cannabis = await topics(world)
    at = world.clock.now() - timedelta(days=1)
    given = m.EntryInput(at, CHAT, 50, [cannabis, alcohol], "weitervermittelt", "Vater trinkt.")
    added, _ = await m.add_monitoring_entry(world.deps, p, cid, given)
    assert added.topic_ids == (alcohol, cannabis) and added.contact_at == at
    async with world.engines.read.connect() as conn:
        row = (await conn.execute(select(monitoring_entries))).one()
    assert row.outcome.startswith("v1:") and row.note.startswith("v1:") and "Vater" not in row.note

    other = staff(await world.counsellor("Quentin", online=False))
    with pytest.raises(NotFound):  # Q does not see the client: the entry does not exist for them
        await m.update_monitoring_entry(world.deps, other, added.id, m.EntryInput(duration_minutes=5))
    await change_primary_counsellor(world.deps, world.admin, cid, other.counsellor_id, None)
    with pytest.raises(Forbidden):  # now Q sees the client, yet the entry stays P's to change
        await m.update_monitoring_entry(world.deps, other, added.id, m.EntryInput(duration_minutes=5))

    changed, _ = await m.update_monitoring_entry(
        world.deps, world.admin, added.id, m.EntryInput(channel=MAIL, topic_ids=[alcohol], note="")
    )
    page = await m.entries_of_client(world.deps, world.admin, cid, 10, None)
    assert page is not None and [e for _, e in page[0].items] == [changed]
    assert (changed.channel, changed.topic_ids, changed.note, changed.outcome) == (
        MAIL,
        (alcohol,),
        None,
        "weitervermittelt",
    )


async def test_entries_page_newest_contact_first(world: World) -> None:
    p, cid = await primary_client(world)
    alcohol, _ = await topics(world)
    now = world.clock.now()
    for days in (3, 1, 2):
        await m.add_monitoring_entry(
            world.deps, p, cid, m.EntryInput(now - timedelta(days=days), CHAT, 30, [alcohol])
        )
    first = await m.entries_of_client(world.deps, p, cid, 2, None)
    assert first is not None
    page, _ = first
    assert [now - e.contact_at for _, e in page.items] == [timedelta(days=1), timedelta(days=2)]
    second = await m.entries_of_client(world.deps, p, cid, 2, page.items[-1][0])
    assert second is not None and [now - e.contact_at for _, e in second[0].items] == [timedelta(days=3)]


async def test_statistics_group_by_utc_month_channel_and_topic_on_each_database(world: World) -> None:
    p, _ = await primary_client(world)
    alcohol, cannabis = await topics(world)
    berlin = timezone(timedelta(hours=1))
    # 00:30 on 1 February in Berlin is still January in UTC.
    january = datetime(2024, 2, 1, 0, 30, tzinfo=berlin)
    february = datetime(2024, 2, 1, 1, 30, tzinfo=berlin)
    for n in range(6):
        cid = client_id(await world.client())
        await change_primary_counsellor(world.deps, world.admin, cid, p.counsellor_id, None)
        await m.add_monitoring_entry(world.deps, p, cid, m.EntryInput(january, CHAT, 30, [alcohol, cannabis]))
        if n < 2:
            await m.add_monitoring_entry(world.deps, p, cid, m.EntryInput(february, MAIL, 30, [alcohol]))

    report = await m.monitoring_statistics(
        world.deps, world.admin, datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 2, 10, tzinfo=UTC), False
    )
    assert (report.start, report.end) == (datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC))
    cells = {(c.month, c.channel, c.topic_id, c.counsellor_id): c.contacts for c in report.cells}
    assert cells == {
        ("2024-01", CHAT, alcohol, None): 6,
        ("2024-01", CHAT, cannabis, None): 6,
        ("2024-02", MAIL, alcohol, None): None,
    }
    by_counsellor = await m.monitoring_statistics(
        world.deps, world.admin, datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC), True
    )
    assert {(c.topic_id, c.counsellor_id, c.contacts) for c in by_counsellor.cells} == {
        (alcohol, p.counsellor_id, 6),
        (cannabis, p.counsellor_id, 6),
    }
    assert set(by_counsellor.counsellors) == {p.counsellor_id}


async def test_erasure_removes_notes_and_contact_texts_and_keeps_the_counts(world: World) -> None:
    p, cid = await primary_client(world)
    alcohol, _ = await topics(world)
    await add_note(world.deps, p, cid, "Privat.")
    at = world.clock.now() - timedelta(hours=1)
    await m.add_monitoring_entry(world.deps, p, cid, m.EntryInput(at, CHAT, 30, [alcohol], "gut", "Privat."))
    await erase_client(world.deps, world.admin, cid)
    async with world.engines.read.connect() as conn:
        assert list(await conn.execute(select(notes))) == []
        (row,) = list(await conn.execute(select(monitoring_entries)))
    assert (row.outcome, row.note, row.client_id) == (None, None, cid)
    report = await m.monitoring_statistics(world.deps, world.admin, at, at + timedelta(hours=2), False)
    assert [(c.topic_id, c.suppressed) for c in report.cells] == [(alcohol, True)]


async def test_parallel_entries_and_a_topic_deactivation_all_land(world: World) -> None:
    p, cid = await primary_client(world)
    alcohol, cannabis = await topics(world)
    at = world.clock.now()
    entries = [
        m.add_monitoring_entry(world.deps, p, cid, m.EntryInput(at, CHAT, 20, [cannabis])) for _ in range(4)
    ]
    await asyncio.gather(*entries, m.update_monitoring_topic(world.deps, world.admin, alcohol, None, False))
    page = await m.entries_of_client(world.deps, p, cid, 10, None)
    assert page is not None and page[0].total == 4
    catalogue = await m.monitoring_topics(world.deps, p)
    assert not catalogue.topics[alcohol].active and catalogue.topics[cannabis].active


async def test_an_entry_update_racing_its_delete_never_brings_it_back(world: World) -> None:
    p, cid = await primary_client(world)
    alcohol, cannabis = await topics(world)
    at = world.clock.now()
    for _ in range(ROUNDS):
        entry, _ = await m.add_monitoring_entry(world.deps, p, cid, m.EntryInput(at, CHAT, 20, [alcohol]))
        change = m.EntryInput(duration_minutes=90, topic_ids=[cannabis], note="Nachgetragen.")
        _, deleted = await race(
            m.update_monitoring_entry(world.deps, p, entry.id, change),
            m.delete_monitoring_entry(world.deps, world.admin, entry.id),
            refusals=(NotFound,),
        )
        assert deleted == entry.id
        async with world.deps.uow(write=False) as uow:
            assert await uow.monitoring.get_entry(entry.id) is None
    async with world.engines.read.connect() as conn:
        assert list(await conn.execute(select(monitoring_entries))) == []


async def test_the_longest_texts_fit_on_each_database(world: World) -> None:
    p, cid = await primary_client(world)
    alcohol, _ = await topics(world)
    widest = "😀"  # four bytes in UTF-8: the longest encrypted form
    note = await add_note(world.deps, p, cid, widest * MAX_NOTE)
    given = m.EntryInput(
        world.clock.now(),
        CHAT,
        MAX_DURATION_MINUTES,
        [alcohol],
        widest * MAX_OUTCOME,
        widest * MAX_ENTRY_NOTE,
    )
    entry, _ = await m.add_monitoring_entry(world.deps, p, cid, given)
    async with world.deps.uow(write=False) as uow:
        stored_note = await uow.notes.get(note.id)
        stored_entry = await uow.monitoring.get_entry(entry.id)
    assert stored_note is not None and stored_note.text == widest * MAX_NOTE
    assert stored_entry is not None and stored_entry.outcome == widest * MAX_OUTCOME
    assert stored_entry.note == widest * MAX_ENTRY_NOTE


async def test_an_erased_clients_contacts_take_no_new_texts(world: World) -> None:
    """Erasure keeps the documented contacts as counts without texts: no one writes a text back."""
    p, cid = await primary_client(world)
    alcohol, _ = await topics(world)
    at = world.clock.now() - timedelta(hours=1)
    entry, _ = await m.add_monitoring_entry(world.deps, p, cid, m.EntryInput(at, CHAT, 30, [alcohol]))
    await erase_client(world.deps, world.admin, cid)
    with pytest.raises(Conflict) as refused:
        await m.update_monitoring_entry(world.deps, world.admin, entry.id, m.EntryInput(note="Name: Kim"))
    assert refused.value.field == "input.id"
    async with world.engines.read.connect() as conn:
        (row,) = list(await conn.execute(select(monitoring_entries)))
    assert (row.outcome, row.note) == (None, None)


async def test_a_note_or_contact_racing_an_erasure_never_outlives_it(world: World) -> None:
    """Adding to the folder locks the client, as an upload does: an erasure either removes the
    note and the contact's texts, or runs first and the addition is refused."""
    alcohol, _ = await topics(world)
    at = world.clock.now() - timedelta(hours=1)
    for n in range(ROUNDS):
        p, cid = await primary_client(world)
        contact = m.EntryInput(at, CHAT, 30, [alcohol], "Ergebnis", f"Privat {n}")
        await race(
            add_note(world.deps, p, cid, f"Privat {n}"),
            m.add_monitoring_entry(world.deps, p, cid, contact),
            erase_client(world.deps, world.admin, cid),
            refusals=(Conflict, NotFound),  # erased, or no longer the primary's client
        )
        async with world.engines.read.connect() as conn:
            assert list(await conn.execute(select(notes).where(notes.c.client_id == cid))) == []
            rows = await conn.execute(select(monitoring_entries).where(monitoring_entries.c.client_id == cid))
            assert [(r.outcome, r.note) for r in rows] in ([], [(None, None)])
