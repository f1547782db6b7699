"""Monitoring: the admins' topic catalogue, the contacts staff document per client, and the
statistics for funders (admins), small counts withheld."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from domain import validation
from domain.errors import BadUserInput, Conflict, NotFound
from domain.model import Channel, Client, Counsellor, Viewer
from domain.monitoring import (
    MAX_ENTRY_NOTE,
    MAX_OUTCOME,
    MAX_TOPIC_NAME,
    Catalogue,
    MonitoringEntry,
    MonitoringTopic,
    StatisticsCell,
    duration,
    require_entry_editor,
    suppressed_cells,
    utc,
    whole_months,
)
from domain.ports import Page, UnitOfWork
from domain.use_cases import Deps, audit
from domain.use_cases.clients import visible_client
from domain.visibility import not_found, require_admin, require_staff

# A contact may be documented a little ahead of the server's clock (a client device's clock).
FUTURE_TOLERANCE = timedelta(minutes=5)


async def _catalogue(uow: UnitOfWork) -> Catalogue:
    return Catalogue.of(await uow.monitoring.topics())


async def monitoring_topics(deps: Deps, viewer: Viewer) -> Catalogue:
    """Staff: the whole catalogue (the API lists its categories with their options)."""
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        return await _catalogue(uow)


async def add_monitoring_topic(
    deps: Deps, viewer: Viewer, name: str, parent_id: int | None
) -> tuple[MonitoringTopic, Catalogue]:
    """Admins: a category (no parent) or an option of a category; the catalogue has two levels."""
    require_admin(viewer)
    name = validation.text(name, "input.name", MAX_TOPIC_NAME)
    async with deps.uow() as uow:
        catalogue = await _catalogue(uow)
        if parent_id is not None:
            parent = catalogue.topics.get(parent_id)
            if parent is None:
                raise not_found("MonitoringTopic", "input.parentId")
            if parent.parent_id is not None:
                raise BadUserInput(
                    "input.parentId must be a category: options have no options.", "input.parentId"
                )
        topic = await uow.monitoring.add_topic(MonitoringTopic(0, name, parent_id))
        await audit.record(uow, deps, viewer, "MONITORING_TOPIC_ADDED", "MonitoringTopic", topic.id, name)
        await uow.commit()
    return topic, Catalogue({**catalogue.topics, topic.id: topic})


async def update_monitoring_topic(
    deps: Deps, viewer: Viewer, topic_id: int, name: str | None, active: bool | None
) -> tuple[MonitoringTopic, Catalogue]:
    """Admins: rename, or (de)activate: an inactive topic stays on the entries that have it."""
    require_admin(viewer)
    if name is not None:
        name = validation.text(name, "input.name", MAX_TOPIC_NAME)
    async with deps.uow() as uow:
        topic = await uow.monitoring.lock_topic(topic_id)
        if topic is None:
            raise not_found("MonitoringTopic", "input.id")
        topic.name = name if name is not None else topic.name
        topic.active = active if active is not None else topic.active
        await uow.monitoring.update_topic(topic)
        detail = f"name={topic.name!r} active={topic.active}"
        await audit.record(uow, deps, viewer, "MONITORING_TOPIC_CHANGED", "MonitoringTopic", topic.id, detail)
        catalogue = await _catalogue(uow)
        await uow.commit()
    return topic, catalogue


@dataclass(frozen=True)
class EntryInput:
    """What staff state of a contact; None leaves a field as it is (on update)."""

    contact_at: datetime | None = None
    channel: Channel | None = None
    duration_minutes: int | None = None
    topic_ids: Sequence[int] | None = None
    # Blank clears (on update).
    outcome: str | None = None
    note: str | None = None


def _apply(entry: MonitoringEntry, given: EntryInput, catalogue: Catalogue, now: datetime) -> None:
    """Validate and copy the stated fields. Topics already on the entry may stay though inactive
    now; every other topic must be an active option."""
    if given.contact_at is not None:
        contact_at = utc(given.contact_at)
        if contact_at > now + FUTURE_TOLERANCE:
            raise BadUserInput("input.contactAt must not be in the future.", field="input.contactAt")
        entry.contact_at = contact_at
    if given.channel is not None:
        entry.channel = given.channel
    if given.duration_minutes is not None:
        entry.duration_minutes = duration(given.duration_minutes, "input.durationMinutes")
    if given.topic_ids is not None:
        kept = set(entry.topic_ids)
        new = [t for t in dict.fromkeys(given.topic_ids) if t not in kept]
        if new:
            catalogue.chosen(new, "input.topicIds")
        if not given.topic_ids:
            raise BadUserInput("input.topicIds must name at least one topic.", field="input.topicIds")
        entry.topic_ids = tuple(dict.fromkeys(given.topic_ids))
    if given.outcome is not None:
        entry.outcome = validation.optional_text(given.outcome, "input.outcome", MAX_OUTCOME)
    if given.note is not None:
        entry.note = validation.optional_text(given.note, "input.note", MAX_ENTRY_NOTE)


async def add_monitoring_entry(
    deps: Deps, viewer: Viewer, client_id: int, given: EntryInput
) -> tuple[MonitoringEntry, Catalogue]:
    """Staff who see the client document a contact they had; they are its counsellor."""
    me = require_staff(viewer)
    if given.contact_at is None or given.channel is None or given.duration_minutes is None:
        raise BadUserInput("contactAt, channel and durationMinutes are required.", field="input")
    now = deps.clock.now()
    async with deps.uow() as uow:
        # Locked: an erasure running now either finished (we see it) or waits for this commit.
        client = await visible_client(uow, viewer, client_id, "input.clientId", lock=True)
        if client.erased_at is not None:
            raise Conflict("This client's data was erased.", field="input.clientId")
        catalogue = await _catalogue(uow)
        entry = MonitoringEntry(0, client_id, me, given.contact_at, given.channel, 1, (), now)
        _apply(entry, given, catalogue, now)
        if not entry.topic_ids:
            raise BadUserInput("input.topicIds must name at least one topic.", field="input.topicIds")
        entry = await uow.monitoring.add_entry(entry)
        await audit.record(
            uow, deps, viewer, "MONITORING_ENTRY_ADDED", "Client", client_id, f"entry {entry.id}"
        )
        await uow.commit()
    return entry, catalogue


async def _locked_entry(
    uow: UnitOfWork, viewer: Viewer, entry_id: int, field: str
) -> tuple[MonitoringEntry, Client]:
    """The entry, held until commit: NOT_FOUND unless its client is visible to the viewer, FORBIDDEN
    unless the viewer is its counsellor or an admin."""
    require_staff(viewer)
    entry = await uow.monitoring.lock_entry(entry_id)
    if entry is None:
        raise not_found("MonitoringEntry", field)
    # Read after the entry's lock: an erasure that cleared its texts has committed by now.
    client = await visible_client(uow, viewer, entry.client_id, field)
    require_entry_editor(viewer, entry)
    return entry, client


async def update_monitoring_entry(
    deps: Deps, viewer: Viewer, entry_id: int, given: EntryInput
) -> tuple[MonitoringEntry, Catalogue]:
    require_staff(viewer)
    async with deps.uow() as uow:
        entry, client = await _locked_entry(uow, viewer, entry_id, "input.id")
        if client.erased_at is not None:  # the contact stays a count: no text is written back
            raise Conflict("This client's data was erased; the contact is kept as a count.", field="input.id")
        catalogue = await _catalogue(uow)
        _apply(entry, given, catalogue, deps.clock.now())
        await uow.monitoring.update_entry(entry)
        await audit.record(
            uow, deps, viewer, "MONITORING_ENTRY_CHANGED", "Client", entry.client_id, f"entry {entry.id}"
        )
        await uow.commit()
    return entry, catalogue


async def delete_monitoring_entry(deps: Deps, viewer: Viewer, entry_id: int) -> int:
    async with deps.uow() as uow:
        entry, _ = await _locked_entry(uow, viewer, entry_id, "id")
        if not await uow.monitoring.delete_entry(entry.id):
            raise not_found("MonitoringEntry")
        await audit.record(
            uow, deps, viewer, "MONITORING_ENTRY_DELETED", "Client", entry.client_id, f"entry {entry.id}"
        )
        await uow.commit()
    return entry.id


async def entries_of_client(
    deps: Deps, viewer: Viewer, client_id: int, first: int, after: str | None
) -> tuple[Page[MonitoringEntry], Catalogue] | None:
    """Staff who see the client: the documented contacts, newest first; None for everyone else."""
    if not viewer.is_staff:
        return None
    async with deps.uow(write=False) as uow:
        try:
            await visible_client(uow, viewer, client_id)
        except NotFound:
            return None
        return await uow.monitoring.page_of_client(client_id, first, after), await _catalogue(uow)


@dataclass(frozen=True)
class MonitoringReport:
    """The statistics of whole months, with the topics and counsellors its cells name."""

    start: datetime
    end: datetime
    cells: list[StatisticsCell]
    catalogue: Catalogue
    counsellors: dict[int, Counsellor] = field(default_factory=dict)


async def monitoring_statistics(
    deps: Deps, viewer: Viewer, start: datetime, end: datetime, by_counsellor: bool
) -> MonitoringReport:
    """Admins: contacts by month, channel and topic (and counsellor), from the month `start` falls in
    to the month before `end` (or the one it falls in when not on a month boundary); cells of fewer
    than the threshold's contacts or clients withheld (docs/decisions.md)."""
    require_admin(viewer)
    start, end = whole_months(start, end)
    async with deps.uow(write=False) as uow:
        counts = await uow.monitoring.counts(start, end, by_counsellor)
        catalogue = await _catalogue(uow)
        ids = sorted({c.counsellor_id for c in counts if c.counsellor_id is not None})
        counsellors = await uow.counsellors.get_many(ids) if by_counsellor else {}
    cells = suppressed_cells(counts, deps.monitoring_min_cell)
    return MonitoringReport(start, end, cells, catalogue, counsellors)


async def get_monitoring_entry(
    deps: Deps, viewer: Viewer, entry_id: int
) -> tuple[MonitoringEntry, Catalogue]:
    """One documented contact, for staff who see its client; NOT_FOUND for everyone else."""
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        entry = await uow.monitoring.get_entry(entry_id)
        if entry is None:
            raise not_found("MonitoringEntry")
        await visible_client(uow, viewer, entry.client_id)
        return entry, await _catalogue(uow)


async def get_monitoring_topic(
    deps: Deps, viewer: Viewer, topic_id: int
) -> tuple[MonitoringTopic, Catalogue]:
    """One topic of the catalogue, for staff."""
    catalogue = await monitoring_topics(deps, viewer)
    if topic_id not in catalogue.topics:
        raise not_found("MonitoringTopic")
    return catalogue.topics[topic_id], catalogue
