"""The client folder's notes and monitoring over the in-memory fakes: who may read and change what,
input rules, the catalogue, erasure, and the statistics' suppression."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import BadUserInput, Conflict, Forbidden, NotFound, Unauthenticated
from domain.model import ANONYMOUS, Channel, Role, StaffRole, Viewer
from domain.monitoring import ContactCount, suppressed_cells, whole_months
from domain.notes import MAX_NOTE
from domain.use_cases import Deps
from domain.use_cases import monitoring as m
from domain.use_cases.notes import add_note, delete_note, edit_note, notes_of_client
from domain.use_cases.privacy import erase_client, export_client_data
from tests.fakes import START, FakeUnitOfWorkFactory, FixedClock

CHAT, MAIL = Channel.CHAT, Channel.MAIL


class Folder:
    """Admin A; counsellors P (primary of client C) and Q (sees nobody); client C."""

    def __init__(self, factory: FakeUnitOfWorkFactory) -> None:
        admin = factory.seed_counsellor(role=StaffRole.ADMIN)
        p, q = factory.seed_counsellor(), factory.seed_counsellor()
        self.client = factory.seed_client(primary_counsellor_id=p.id)
        self.admin = Viewer(role=Role.ADMIN, counsellor_id=admin.id)
        self.p = Viewer(role=Role.COUNSELLOR, counsellor_id=p.id)
        self.q = Viewer(role=Role.COUNSELLOR, counsellor_id=q.id)
        self.c = Viewer(role=Role.CLIENT, client_id=self.client.id)


@pytest.fixture
def folder(factory: FakeUnitOfWorkFactory) -> Folder:
    return Folder(factory)


# --- Notes ------------------------------------------------------------------------------------


async def test_staff_who_see_the_client_write_and_read_notes_newest_first(
    deps: Deps, folder: Folder, clock: FixedClock
) -> None:
    first = await add_note(deps, folder.p, folder.client.id, "  Erstgespräch.  ")
    clock.advance(60)
    second = await add_note(deps, folder.admin, folder.client.id, "Rückruf vereinbart.")
    assert first.text == "Erstgespräch." and first.author_id == folder.p.counsellor_id

    page = await notes_of_client(deps, folder.p, folder.client.id, 1, None)
    assert page is not None and page.total == 2 and page.has_next
    assert [n.id for _, n in page.items] == [second.id]
    rest = await notes_of_client(deps, folder.p, folder.client.id, 10, page.items[-1][0])
    assert rest is not None and [n.id for _, n in rest.items] == [first.id]


async def test_notes_are_never_the_clients_nor_of_staff_who_do_not_see_the_client(
    deps: Deps, folder: Folder
) -> None:
    await add_note(deps, folder.p, folder.client.id, "Vertraulich.")
    assert await notes_of_client(deps, folder.c, folder.client.id, 10, None) is None
    assert await notes_of_client(deps, folder.q, folder.client.id, 10, None) is None
    with pytest.raises(NotFound) as missing:
        await add_note(deps, folder.q, folder.client.id, "Darf ich nicht.")
    assert missing.value.field == "input.clientId"
    with pytest.raises(Forbidden):
        await add_note(deps, folder.c, folder.client.id, "Ich bin Klient:in.")
    with pytest.raises(Unauthenticated):
        await add_note(deps, ANONYMOUS, folder.client.id, "Anonym.")


@pytest.mark.parametrize("text", ["", "   ", "x" * (MAX_NOTE + 1), "a\x00b"])
async def test_a_note_text_is_one_to_twenty_thousand_characters(
    deps: Deps, folder: Folder, text: str
) -> None:
    with pytest.raises(BadUserInput) as bad:
        await add_note(deps, folder.p, folder.client.id, text)
    assert bad.value.field == "input.text"
    assert (await add_note(deps, folder.p, folder.client.id, "ß" * MAX_NOTE)).text == "ß" * MAX_NOTE


async def test_the_author_edits_and_deletes_their_note_admins_any_other_staff_none(
    deps: Deps, folder: Folder, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    note = await add_note(deps, folder.p, folder.client.id, "Von P.")
    clock.advance(30)
    edited = await edit_note(deps, folder.p, note.id, "Von P, ergänzt.")
    assert edited.text == "Von P, ergänzt." and edited.edited_at == clock.now()

    by_admin = await add_note(deps, folder.admin, folder.client.id, "Von der Leitung.")
    with pytest.raises(Forbidden):  # P sees the client, but the note is the admin's
        await edit_note(deps, folder.p, by_admin.id, "Überschrieben.")
    with pytest.raises(Forbidden):
        await delete_note(deps, folder.p, by_admin.id)
    with pytest.raises(NotFound):  # Q does not even see it
        await edit_note(deps, folder.q, note.id, "Von Q.")
    assert (await edit_note(deps, folder.admin, note.id, "Korrigiert.")).text == "Korrigiert."

    assert await delete_note(deps, folder.p, note.id) == note.id
    assert await delete_note(deps, folder.admin, by_admin.id) == by_admin.id
    with pytest.raises(NotFound):
        await edit_note(deps, folder.p, note.id, "Zu spät.")
    actions = [e.action for e in factory.store.audit]
    assert actions == [
        "NOTE_ADDED",
        "NOTE_EDITED",
        "NOTE_ADDED",
        "NOTE_EDITED",
        "NOTE_DELETED",
        "NOTE_DELETED",
    ]


# --- The catalogue ----------------------------------------------------------------------------


async def catalogue(deps: Deps, admin: Viewer) -> dict[str, int]:
    addiction, _ = await m.add_monitoring_topic(deps, admin, "Sucht", None)
    alcohol, _ = await m.add_monitoring_topic(deps, admin, "Alkohol", addiction.id)
    gambling, _ = await m.add_monitoring_topic(deps, admin, "Glücksspiel online", addiction.id)
    return {"addiction": addiction.id, "alcohol": alcohol.id, "gambling": gambling.id}


async def test_admins_keep_a_two_level_catalogue_staff_read_it(deps: Deps, folder: Folder) -> None:
    topics = await catalogue(deps, folder.admin)
    found = await m.monitoring_topics(deps, folder.p)
    assert [t.name for t in found.categories()] == ["Sucht"]
    assert [t.name for t in found.children(topics["addiction"])] == ["Alkohol", "Glücksspiel online"]
    with pytest.raises(BadUserInput) as bad:
        await m.add_monitoring_topic(deps, folder.admin, "Bier", topics["alcohol"])
    assert bad.value.field == "input.parentId"
    with pytest.raises(NotFound):
        await m.add_monitoring_topic(deps, folder.admin, "Waise", 999)
    with pytest.raises(Forbidden):
        await m.add_monitoring_topic(deps, folder.p, "Von P", None)
    with pytest.raises(Forbidden):
        await m.monitoring_topics(deps, folder.c)
    renamed, _ = await m.update_monitoring_topic(
        deps, folder.admin, topics["alcohol"], "Alkohol (Bier, Wein)", None
    )
    assert renamed.name == "Alkohol (Bier, Wein)" and renamed.active


# --- Entries ----------------------------------------------------------------------------------


def entry(topic_ids: list[int], **overrides: object) -> m.EntryInput:
    values: dict[str, object] = {
        "contact_at": START - timedelta(hours=1),
        "channel": CHAT,
        "duration_minutes": 45,
        "topic_ids": topic_ids,
        "outcome": "weitervermittelt",
        "note": "Sorgen um den Vater.",
    }
    return m.EntryInput(**(values | overrides))  # type: ignore[arg-type]


async def test_staff_document_contacts_with_active_options_only(deps: Deps, folder: Folder) -> None:
    topics = await catalogue(deps, folder.admin)
    added, _ = await m.add_monitoring_entry(deps, folder.p, folder.client.id, entry([topics["alcohol"]]))
    assert added.counsellor_id == folder.p.counsellor_id and added.topic_ids == (topics["alcohol"],)

    bad_inputs = {
        "input.topicIds": [entry([]), entry([topics["addiction"]]), entry([999])],
        "input.durationMinutes": [
            entry([topics["alcohol"]], duration_minutes=0),
            entry([topics["alcohol"]], duration_minutes=1441),
        ],
        "input.contactAt": [entry([topics["alcohol"]], contact_at=START + timedelta(hours=1))],
        "input.outcome": [entry([topics["alcohol"]], outcome="x" * 501)],
    }
    for field_name, inputs in bad_inputs.items():
        for given in inputs:
            with pytest.raises(BadUserInput) as bad:
                await m.add_monitoring_entry(deps, folder.p, folder.client.id, given)
            assert bad.value.field == field_name

    # An inactive option (or an option of an inactive category) stays on old entries, yet is never chosen anew.
    await m.update_monitoring_topic(deps, folder.admin, topics["alcohol"], None, False)
    with pytest.raises(BadUserInput):
        await m.add_monitoring_entry(deps, folder.p, folder.client.id, entry([topics["alcohol"]]))
    kept, _ = await m.update_monitoring_entry(
        deps,
        folder.p,
        added.id,
        m.EntryInput(topic_ids=[topics["alcohol"], topics["gambling"]], duration_minutes=50),
    )
    assert kept.topic_ids == (topics["alcohol"], topics["gambling"]) and kept.duration_minutes == 50
    await m.update_monitoring_topic(deps, folder.admin, topics["addiction"], None, False)
    with pytest.raises(BadUserInput):
        await m.add_monitoring_entry(deps, folder.p, folder.client.id, entry([topics["gambling"]]))


async def test_the_entrys_counsellor_and_admins_change_it_other_staff_only_read(
    deps: Deps, folder: Folder, factory: FakeUnitOfWorkFactory
) -> None:
    topics = await catalogue(deps, folder.admin)
    by_admin, _ = await m.add_monitoring_entry(
        deps, folder.admin, folder.client.id, entry([topics["alcohol"]])
    )
    with pytest.raises(Forbidden):
        await m.update_monitoring_entry(deps, folder.p, by_admin.id, m.EntryInput(channel=MAIL))
    with pytest.raises(Forbidden):
        await m.delete_monitoring_entry(deps, folder.p, by_admin.id)
    with pytest.raises(NotFound):
        await m.delete_monitoring_entry(deps, folder.q, by_admin.id)
    page = await m.entries_of_client(deps, folder.p, folder.client.id, 10, None)
    assert page is not None and [e.id for _, e in page[0].items] == [by_admin.id]
    assert await m.entries_of_client(deps, folder.c, folder.client.id, 10, None) is None
    assert await m.entries_of_client(deps, folder.q, folder.client.id, 10, None) is None

    cleared, _ = await m.update_monitoring_entry(
        deps, folder.admin, by_admin.id, m.EntryInput(outcome="", note=" ")
    )
    assert cleared.outcome is None and cleared.note is None
    assert await m.delete_monitoring_entry(deps, folder.admin, by_admin.id) == by_admin.id
    assert factory.store.entries == {}


# --- Erasure and export -----------------------------------------------------------------------


async def test_erasure_removes_notes_and_the_free_texts_of_contacts_keeping_the_counts(
    deps: Deps, folder: Folder, factory: FakeUnitOfWorkFactory
) -> None:
    topics = await catalogue(deps, folder.admin)
    await add_note(deps, folder.p, folder.client.id, "Privat.")
    await m.add_monitoring_entry(deps, folder.p, folder.client.id, entry([topics["alcohol"]]))
    exported = await export_client_data(deps, folder.admin, folder.client.id)
    assert [n["text"] for n in exported["notes"]] == ["Privat."]
    assert [e["note"] for e in exported["monitoringEntries"]] == ["Sorgen um den Vater."]

    await erase_client(deps, folder.admin, folder.client.id)
    assert factory.store.notes == {}
    (kept,) = factory.store.entries.values()
    assert (kept.outcome, kept.note, kept.topic_ids) == (None, None, (topics["alcohol"],))
    with pytest.raises(Conflict):
        await add_note(deps, folder.admin, folder.client.id, "Danach.")


# --- Statistics -------------------------------------------------------------------------------


def count(
    contacts: int, counsellor: int | None = None, topic: int = 1, clients: int | None = None
) -> ContactCount:
    return ContactCount(
        "2025-01", CHAT, topic, counsellor, contacts, contacts if clients is None else clients
    )


def test_small_cells_and_cells_of_few_clients_are_withheld() -> None:
    cells = suppressed_cells([count(5, topic=1), count(4, topic=2), count(9, topic=3, clients=2)], 5)
    assert [(c.topic_id, c.contacts, c.suppressed) for c in cells] == [
        (1, 5, False),
        (2, None, True),
        (3, None, True),
    ]


def test_a_lone_withheld_counsellor_cell_takes_the_next_smallest_with_it() -> None:
    # Published without counsellors the group has 5 + 6 + 2 = 13: withholding only the 2 would give it away.
    cells = suppressed_cells([count(5, counsellor=1), count(6, counsellor=2), count(2, counsellor=3)], 5)
    shown = {c.counsellor_id: c.contacts for c in cells}
    assert shown == {1: None, 2: 6, 3: None}
    # Two small cells together still below the threshold: a third goes too.
    cells = suppressed_cells([count(1, 1), count(1, 2), count(7, 3), count(8, 4)], 5)
    assert {c.counsellor_id: c.contacts for c in cells} == {1: None, 2: None, 3: None, 4: 8}


def test_statistics_count_whole_calendar_months() -> None:
    jan = datetime(2025, 1, 1, tzinfo=UTC)
    assert whole_months(datetime(2025, 1, 15, tzinfo=UTC), datetime(2025, 2, 3, tzinfo=UTC)) == (
        jan,
        datetime(2025, 3, 1, tzinfo=UTC),
    )
    assert whole_months(jan, datetime(2025, 2, 1, tzinfo=UTC)) == (jan, datetime(2025, 2, 1, tzinfo=UTC))
    assert whole_months(datetime(2025, 12, 31, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))[1] == datetime(
        2026, 1, 1, tzinfo=UTC
    )
    with pytest.raises(BadUserInput):
        whole_months(jan, jan)
    # Without an offset, a moment is read as UTC.
    naive = whole_months(datetime(2025, 1, 31, 23, 30), datetime(2025, 2, 1))
    assert naive == (jan, datetime(2025, 2, 1, tzinfo=UTC))


async def test_a_contact_time_without_an_offset_is_utc(deps: Deps, folder: Folder) -> None:
    topics = await catalogue(deps, folder.admin)
    given = entry([topics["alcohol"]], contact_at=datetime(2025, 1, 6, 8, 0))
    added, _ = await m.add_monitoring_entry(deps, folder.p, folder.client.id, given)
    assert added.contact_at == datetime(2025, 1, 6, 8, 0, tzinfo=UTC)


async def test_statistics_are_for_admins_and_withhold_small_cells(
    deps: Deps, folder: Folder, factory: FakeUnitOfWorkFactory
) -> None:
    topics = await catalogue(deps, folder.admin)
    clients = [factory.seed_client(primary_counsellor_id=folder.p.counsellor_id) for _ in range(5)]
    for c in clients:
        await m.add_monitoring_entry(deps, folder.p, c.id, entry([topics["alcohol"], topics["gambling"]]))
    await m.add_monitoring_entry(deps, folder.p, folder.client.id, entry([topics["gambling"]], channel=MAIL))
    with pytest.raises(Forbidden):
        await m.monitoring_statistics(deps, folder.p, START - timedelta(days=40), START, False)
    report = await m.monitoring_statistics(deps, folder.admin, START - timedelta(days=2), START, False)
    cells = {(c.channel, c.topic_id): (c.contacts, c.suppressed) for c in report.cells}
    assert cells == {
        (CHAT, topics["alcohol"]): (5, False),
        (CHAT, topics["gambling"]): (5, False),
        (MAIL, topics["gambling"]): (None, True),
    }
    assert {c.month for c in report.cells} == {"2025-01"}
