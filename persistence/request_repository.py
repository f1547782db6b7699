"""Requests in SQL: the queue, idempotency, and who may see which request."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Insert, Row, and_, false, func, or_, select, true, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Channel, Request, RequestStatus, Viewer
from domain.ports import Page, RecentRequest, RequestQuery
from persistence import rows
from persistence.crypto import TextCipher
from persistence.tables import clients, request_handlers
from persistence.tables import requests as t


def visible_requests(viewer: Viewer) -> ColumnElement[bool]:
    """SQL mirror of domain.visibility.sees_request."""
    if viewer.is_admin:
        return true()
    if viewer.is_staff:
        me = viewer.counsellor_id or 0
        handled = select(request_handlers.c.request_id).where(request_handlers.c.counsellor_id == me)
        primary_of = select(clients.c.id).where(clients.c.primary_counsellor_id == me)
        return or_(t.c.counsellor_id == me, t.c.id.in_(handled), t.c.client_id.in_(primary_of))
    return t.c.client_id == (viewer.client_id or 0)


def _filters(query: RequestQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.channel is not None:
        conditions.append(t.c.channel == query.channel.value)
    if query.status is not None:
        conditions.append(t.c.status == query.status.value)
    if query.counsellor_id is not None:
        conditions.append(t.c.counsellor_id == query.counsellor_id)
    if query.client_id is not None:
        conditions.append(t.c.client_id == query.client_id)
    return conditions


class SqlRequestRepository:
    """Requests; subject and message are encrypted on the way in and decrypted on the way out."""

    def __init__(self, conn: AsyncConnection, cipher: TextCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    def _read(self, row: Row[Any]) -> Request:
        request = rows.request(row)
        request.subject = self._cipher.decrypt(request.subject)
        request.message = self._cipher.decrypt(request.message)
        return request

    def _values(self, request: Request) -> dict[str, Any]:
        values = rows.request_values(request)
        values["subject"] = self._cipher.encrypt(request.subject)
        values["message"] = self._cipher.encrypt(request.message)
        return values

    async def get(self, request_id: int) -> Request | None:
        row = (await self._conn.execute(select(t).where(t.c.id == request_id))).first()
        return self._read(row) if row else None

    async def add(self, request: Request) -> Request:
        statement = t.insert().values(self._values(request)).returning(t.c.id)
        request.id = (await self._conn.execute(statement)).scalar_one()
        return request

    async def save_transition(self, request: Request) -> None:
        values = rows.transition_values(request)
        await self._conn.execute(update(t).where(t.c.id == request.id).values(values))

    async def record_handler(self, request_id: int, counsellor_id: int) -> None:
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        statement: Insert = (
            dialect.insert(request_handlers)
            .values(request_id=request_id, counsellor_id=counsellor_id)
            .on_conflict_do_nothing()
        )
        await self._conn.execute(statement)

    async def handled_by(self, request_id: int, counsellor_id: int) -> bool:
        query = select(request_handlers.c.request_id).where(
            request_handlers.c.request_id == request_id, request_handlers.c.counsellor_id == counsellor_id
        )
        return (await self._conn.execute(query)).first() is not None

    async def lock(self, request_id: int) -> Request | None:
        row = (await self._conn.execute(select(t).where(t.c.id == request_id).with_for_update())).first()
        return self._read(row) if row else None

    async def lock_queued(self, request_id: int) -> Request | None:
        query = (
            select(t)
            .where(t.c.id == request_id, t.c.status == RequestStatus.QUEUED.value)
            .with_for_update(skip_locked=True)
        )
        row = (await self._conn.execute(query)).first()
        return self._read(row) if row else None

    async def queued(self, limit: int, after_id: int = 0) -> list[Request]:
        query = (
            select(t)
            .where(t.c.status == RequestStatus.QUEUED.value, t.c.id > after_id)
            .order_by(t.c.id)
            .limit(limit)
        )
        return [self._read(r) for r in await self._conn.execute(query)]

    async def oldest_queued_of(self, client_id: int) -> Request | None:
        query = (
            select(t)
            .where(t.c.client_id == client_id, t.c.status == RequestStatus.QUEUED.value)
            .order_by(t.c.id)
            .limit(1)
        )
        row = (await self._conn.execute(query)).first()
        return self._read(row) if row else None

    async def count_of_client(self, client_id: int, since: datetime | None, open_only: bool) -> int:
        query = select(func.count()).where(t.c.client_id == client_id)
        if since is not None:
            query = query.where(t.c.created_at >= since)
        if open_only:
            query = query.where(t.c.status.in_([RequestStatus.QUEUED.value, RequestStatus.ASSIGNED.value]))
        return int((await self._conn.execute(query)).scalar_one())

    async def recent_of_client(
        self, client_id: int, since: datetime, idempotency_key: str | None
    ) -> list[RecentRequest]:
        carries_key = t.c.idempotency_key == idempotency_key if idempotency_key is not None else false()
        open_ = t.c.status.in_([RequestStatus.QUEUED.value, RequestStatus.ASSIGNED.value])
        query = select(
            t.c.id, t.c.status, t.c.created_at, t.c.counsellor_id, carries_key.label("carries_key")
        )
        query = query.where(t.c.client_id == client_id, or_(open_, t.c.created_at >= since, carries_key))
        return [
            RecentRequest(r.id, RequestStatus(r.status), r.created_at, r.counsellor_id, bool(r.carries_key))
            for r in await self._conn.execute(query)
        ]

    async def of_client(self, client_id: int) -> list[Request]:
        query = select(t).where(t.c.client_id == client_id).order_by(t.c.id)
        return [self._read(r) for r in await self._conn.execute(query)]

    async def erase_texts(self, client_id: int) -> int:
        statement = update(t).where(t.c.client_id == client_id).values(subject=None, message=None)
        return (await self._conn.execute(statement)).rowcount or 0

    async def stop_waiting_for(self, counsellor_id: int) -> int:
        statement = (
            update(t)
            .where(t.c.status == RequestStatus.QUEUED.value, t.c.waiting_for_id == counsellor_id)
            .values(waiting_for_id=None)
        )
        return (await self._conn.execute(statement)).rowcount or 0

    def _overdue(self, assigned_before: datetime) -> ColumnElement[bool]:
        return and_(
            t.c.status == RequestStatus.ASSIGNED.value,
            t.c.channel == Channel.CHAT.value,
            t.c.accepted_at.is_(None),
            t.c.assigned_at < assigned_before,
        )

    async def unaccepted(self, assigned_before: datetime, limit: int) -> list[Request]:
        query = select(t).where(self._overdue(assigned_before)).order_by(t.c.assigned_at, t.c.id).limit(limit)
        return [self._read(r) for r in await self._conn.execute(query)]

    async def lock_unaccepted(self, request_id: int, assigned_before: datetime) -> Request | None:
        query = (
            select(t)
            .where(t.c.id == request_id, self._overdue(assigned_before))
            .with_for_update(skip_locked=True)
        )
        row = (await self._conn.execute(query)).first()
        return self._read(row) if row else None

    async def queue_position(self, request: Request, now: datetime) -> int:
        waiting = (
            request.waiting_for_id is not None and request.wait_until is not None and request.wait_until > now
        )
        if waiting:
            same_wait = and_(t.c.waiting_for_id == request.waiting_for_id, t.c.wait_until > now)
        else:
            same_wait = or_(t.c.waiting_for_id.is_(None), t.c.wait_until.is_(None), t.c.wait_until <= now)
        query = select(func.count()).where(
            t.c.status == RequestStatus.QUEUED.value,
            t.c.channel == request.channel.value,
            same_wait,
            t.c.id <= request.id,
        )
        return int((await self._conn.execute(query)).scalar_one())

    async def assignments_since(self, channel: Channel, since: datetime) -> int:
        query = select(func.count()).where(t.c.channel == channel.value, t.c.assigned_at >= since)
        return int((await self._conn.execute(query)).scalar_one())

    async def queue_summary(self) -> dict[Channel, tuple[int, datetime | None]]:
        query = (
            select(t.c.channel, func.count(), func.min(t.c.created_at))
            .where(t.c.status == RequestStatus.QUEUED.value)
            .group_by(t.c.channel)
        )
        return {
            Channel(channel): (int(count), rows.request_time(oldest))
            for channel, count, oldest in await self._conn.execute(query)
        }

    async def next_wait_end(self, after: datetime) -> datetime | None:
        query = select(func.min(t.c.wait_until)).where(
            t.c.status == RequestStatus.QUEUED.value, t.c.wait_until > after
        )
        value: datetime | None = (await self._conn.execute(query)).scalar_one_or_none()
        return rows.request_time(value)

    async def assigned_to_since(self, counsellor_id: int, since: datetime, limit: int) -> list[Request]:
        query = (
            select(t)
            .where(t.c.counsellor_id == counsellor_id, t.c.assigned_at >= since)
            .order_by(t.c.assigned_at, t.c.id)
            .limit(limit)
        )
        return [self._read(r) for r in await self._conn.execute(query)]

    async def visible_changed_since(
        self, viewer: Viewer, since: datetime, limit: int, request_id: int | None = None
    ) -> list[Request]:
        query = select(t).where(t.c.updated_at >= since, visible_requests(viewer))
        if request_id is not None:
            query = query.where(t.c.id == request_id)
        query = query.order_by(t.c.updated_at, t.c.id).limit(limit)
        return [self._read(r) for r in await self._conn.execute(query)]

    async def visible_first_pages(
        self, viewer: Viewer, client_ids: Sequence[int], first: int
    ) -> dict[int, Page[Request]]:
        """The first page of each client's visible requests, in two statements for all clients."""
        where = and_(visible_requests(viewer), t.c.client_id.in_(set(client_ids)))
        rank = func.row_number().over(partition_by=t.c.client_id, order_by=t.c.id.desc()).label("rank")
        ranked = select(t, rank).where(where).subquery()
        query = (
            select(ranked).where(ranked.c.rank <= first + 1).order_by(ranked.c.client_id, ranked.c.id.desc())
        )
        found: dict[int, list[Request]] = {i: [] for i in client_ids}
        for row in await self._conn.execute(query):
            found[row.client_id].append(self._read(row))
        counts = select(t.c.client_id, func.count()).where(where).group_by(t.c.client_id)
        totals = {client_id: total for client_id, total in await self._conn.execute(counts)}
        return {
            client_id: Page(
                items=[(rows.encode_cursor(r.id), r) for r in listed[:first]],
                has_next=len(listed) > first,
                total=totals.get(client_id, 0),
            )
            for client_id, listed in found.items()
        }

    async def visible_page(
        self, viewer: Viewer, query: RequestQuery, first: int, after: str | None
    ) -> Page[Request]:
        where = and_(visible_requests(viewer), *_filters(query))
        page = select(t).where(where).order_by(t.c.id.desc()).limit(first + 1)
        if after is not None:
            (last_id,) = rows.decode_cursor(after, int)
            page = page.where(t.c.id < last_id)
        found = [self._read(r) for r in await self._conn.execute(page)]
        total = (await self._conn.execute(select(func.count()).select_from(t).where(where))).scalar_one()
        items = [(rows.encode_cursor(r.id), r) for r in found[:first]]
        return Page(items=items, has_next=len(found) > first, total=total)
