"""The client folder in SQL: notes and monitoring. Personal texts are encrypted on the way in and
decrypted on the way out; statistics are counted by the database, by month, on either dialect."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Row, and_, delete, distinct, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import BadUserInput
from domain.model import Channel
from domain.monitoring import ContactCount, MonitoringEntry, MonitoringTopic
from domain.notes import Note
from domain.ports import Page
from persistence import rows
from persistence.crypto import TextCipher
from persistence.tables import monitoring_entries as entries
from persistence.tables import monitoring_entry_topics as entry_topics
from persistence.tables import monitoring_topics as topics
from persistence.tables import notes as t


class SqlNoteRepository:
    def __init__(self, conn: AsyncConnection, cipher: TextCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    def _read(self, row: Row[Any]) -> Note:
        return Note(
            id=row.id,
            client_id=row.client_id,
            author_id=row.author_id,
            text=self._cipher.decrypt(row.text) or "",
            created_at=row.created_at,
            edited_at=row.edited_at,
        )

    async def add(self, note: Note) -> Note:
        values = {
            "client_id": note.client_id,
            "author_id": note.author_id,
            "text": self._cipher.encrypt(note.text),
            "created_at": note.created_at,
            "edited_at": note.edited_at,
        }
        return self._read((await self._conn.execute(t.insert().values(values).returning(t))).one())

    async def get(self, note_id: int) -> Note | None:
        row = (await self._conn.execute(select(t).where(t.c.id == note_id))).first()
        return self._read(row) if row else None

    async def lock(self, note_id: int) -> Note | None:
        row = (await self._conn.execute(select(t).where(t.c.id == note_id).with_for_update())).first()
        return self._read(row) if row else None

    async def set_text(self, note_id: int, text: str, edited_at: datetime) -> bool:
        statement = (
            update(t).where(t.c.id == note_id).values(text=self._cipher.encrypt(text), edited_at=edited_at)
        )
        return bool((await self._conn.execute(statement)).rowcount)

    async def delete(self, note_id: int) -> bool:
        return bool((await self._conn.execute(delete(t).where(t.c.id == note_id))).rowcount)

    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[Note]:
        mine = t.c.client_id == client_id
        query = select(t).where(mine).order_by(t.c.id.desc()).limit(first + 1)
        if after is not None:
            (last_id,) = rows.decode_cursor(after, int)
            query = query.where(t.c.id < last_id)
        found = [self._read(r) for r in await self._conn.execute(query)]
        total = (await self._conn.execute(select(func.count()).select_from(t).where(mine))).scalar_one()
        items = [(rows.encode_cursor(n.id), n) for n in found[:first]]
        return Page(items=items, has_next=len(found) > first, total=total)

    async def erase_for(self, client_id: int) -> int:
        return (await self._conn.execute(delete(t).where(t.c.client_id == client_id))).rowcount


def _cursor_time(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadUserInput("after is not a cursor of this list.", field="after") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _topic(row: Row[Any]) -> MonitoringTopic:
    return MonitoringTopic(id=row.id, name=row.name, parent_id=row.parent_id, active=row.active)


def month_of(conn: AsyncConnection, column: Any) -> ColumnElement[str]:
    """YYYY-MM of a UTC timestamp column: SQLite keeps it as text (strftime reads it), PostgreSQL as
    timestamptz (to_char of its UTC value)."""
    if conn.dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), literal("YYYY-MM"))
    return func.strftime("%Y-%m", column)


class SqlMonitoringRepository:
    def __init__(self, conn: AsyncConnection, cipher: TextCipher) -> None:
        self._conn = conn
        self._cipher = cipher
        self._locked: set[tuple[str, int]] = set()  # rows written whole only under this transaction's lock

    def _require_lock(self, kind: str, row_id: int) -> None:
        if (kind, row_id) not in self._locked:
            raise RuntimeError(f"a {kind} row is written whole only while this transaction locks it")

    # The catalogue

    async def topics(self) -> list[MonitoringTopic]:
        return [_topic(r) for r in await self._conn.execute(select(topics).order_by(topics.c.id))]

    async def add_topic(self, topic: MonitoringTopic) -> MonitoringTopic:
        values = {"name": topic.name, "parent_id": topic.parent_id, "active": topic.active}
        return _topic((await self._conn.execute(topics.insert().values(values).returning(topics))).one())

    async def lock_topic(self, topic_id: int) -> MonitoringTopic | None:
        query = select(topics).where(topics.c.id == topic_id).with_for_update()
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        self._locked.add(("topic", row.id))
        return _topic(row)

    async def update_topic(self, topic: MonitoringTopic) -> None:
        self._require_lock("topic", topic.id)
        statement = update(topics).where(topics.c.id == topic.id).values(name=topic.name, active=topic.active)
        await self._conn.execute(statement)

    # Entries

    def _entry(self, row: Row[Any], topic_ids: Sequence[int]) -> MonitoringEntry:
        return MonitoringEntry(
            id=row.id,
            client_id=row.client_id,
            counsellor_id=row.counsellor_id,
            contact_at=row.contact_at,
            channel=Channel(row.channel),
            duration_minutes=row.duration_minutes,
            topic_ids=tuple(topic_ids),
            created_at=row.created_at,
            outcome=self._cipher.decrypt(row.outcome),
            note=self._cipher.decrypt(row.note),
        )

    def _values(self, entry: MonitoringEntry) -> dict[str, Any]:
        return {
            "contact_at": entry.contact_at,
            "channel": entry.channel.value,
            "duration_minutes": entry.duration_minutes,
            "outcome": self._cipher.encrypt(entry.outcome),
            "note": self._cipher.encrypt(entry.note),
        }

    async def _topics_of(self, entry_ids: Sequence[int]) -> dict[int, list[int]]:
        found: dict[int, list[int]] = defaultdict(list)
        if entry_ids:
            query = (
                select(entry_topics.c.entry_id, entry_topics.c.topic_id)
                .where(entry_topics.c.entry_id.in_(set(entry_ids)))
                .order_by(entry_topics.c.entry_id, entry_topics.c.topic_id)
            )
            for entry_id, topic_id in await self._conn.execute(query):
                found[entry_id].append(topic_id)
        return found

    async def _link(self, entry_id: int, topic_ids: Sequence[int]) -> None:
        await self._conn.execute(
            entry_topics.insert(), [{"entry_id": entry_id, "topic_id": topic_id} for topic_id in topic_ids]
        )

    async def add_entry(self, entry: MonitoringEntry) -> MonitoringEntry:
        values = self._values(entry) | {
            "client_id": entry.client_id,
            "counsellor_id": entry.counsellor_id,
            "created_at": entry.created_at,
        }
        row = (await self._conn.execute(entries.insert().values(values).returning(entries))).one()
        await self._link(row.id, entry.topic_ids)
        return self._entry(row, sorted(entry.topic_ids))

    async def _one(self, entry_id: int, *, lock: bool) -> MonitoringEntry | None:
        query = select(entries).where(entries.c.id == entry_id)
        row = (await self._conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            return None
        return self._entry(row, (await self._topics_of([row.id]))[row.id])

    async def get_entry(self, entry_id: int) -> MonitoringEntry | None:
        return await self._one(entry_id, lock=False)

    async def lock_entry(self, entry_id: int) -> MonitoringEntry | None:
        found = await self._one(entry_id, lock=True)
        if found is not None:
            self._locked.add(("entry", found.id))
        return found

    async def update_entry(self, entry: MonitoringEntry) -> None:
        self._require_lock("entry", entry.id)
        await self._conn.execute(update(entries).where(entries.c.id == entry.id).values(self._values(entry)))
        await self._conn.execute(delete(entry_topics).where(entry_topics.c.entry_id == entry.id))
        await self._link(entry.id, entry.topic_ids)

    async def delete_entry(self, entry_id: int) -> bool:
        await self._conn.execute(delete(entry_topics).where(entry_topics.c.entry_id == entry_id))
        return bool((await self._conn.execute(delete(entries).where(entries.c.id == entry_id))).rowcount)

    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[MonitoringEntry]:
        mine = entries.c.client_id == client_id
        order = (entries.c.contact_at.desc(), entries.c.id.desc())
        query = select(entries).where(mine).order_by(*order).limit(first + 1)
        if after is not None:
            at, last_id = rows.decode_cursor(after, str, int)
            moment = _cursor_time(at)
            c = entries.c
            query = query.where(or_(c.contact_at < moment, and_(c.contact_at == moment, c.id < last_id)))
        found = list(await self._conn.execute(query))
        linked = await self._topics_of([r.id for r in found[:first]])
        total = (await self._conn.execute(select(func.count()).select_from(entries).where(mine))).scalar_one()
        items = [
            (rows.encode_cursor(r.contact_at.isoformat(), r.id), self._entry(r, linked[r.id]))
            for r in found[:first]
        ]
        return Page(items=items, has_next=len(found) > first, total=total)

    async def erase_texts(self, client_id: int) -> int:
        statement = update(entries).where(entries.c.client_id == client_id).values(outcome=None, note=None)
        return (await self._conn.execute(statement)).rowcount

    async def counts(self, start: datetime, end: datetime, by_counsellor: bool) -> list[ContactCount]:
        month = month_of(self._conn, entries.c.contact_at).label("month")
        keys: list[Any] = [month, entries.c.channel, entry_topics.c.topic_id]
        if by_counsellor:
            keys.append(entries.c.counsellor_id)
        query = (
            select(
                *keys,
                func.count().label("contacts"),
                func.count(distinct(entries.c.client_id)).label("clients"),
            )
            .select_from(entries.join(entry_topics, entry_topics.c.entry_id == entries.c.id))
            .where(entries.c.contact_at >= start, entries.c.contact_at < end)
            .group_by(*keys)
        )
        return [
            ContactCount(
                month=r.month,
                channel=Channel(r.channel),
                topic_id=r.topic_id,
                counsellor_id=r.counsellor_id if by_counsellor else None,
                contacts=r.contacts,
                clients=r.clients,
            )
            for r in await self._conn.execute(query)
        ]
