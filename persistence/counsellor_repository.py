"""Counsellors in SQL: the free-ness predicates of domain.policy as indexed conditions."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Channel, Counsellor, InvitationStatus, MailAvailability, OnlineStatus, StaffRole
from domain.ports import Page, StaffQuery
from persistence import rows
from persistence.email_addresses import email_index
from persistence.tables import clients
from persistence.tables import counsellors as t

_eligible = and_(t.c.active == true(), t.c.absent == false())


def free_condition(channel: Channel) -> ColumnElement[bool]:
    """SQL mirror of domain.policy.chat_free / mail_free (a test checks they agree)."""
    if channel is Channel.CHAT:
        return and_(
            _eligible,
            t.c.online_status == OnlineStatus.ONLINE.value,
            t.c.active_chat_count < t.c.chat_capacity,
        )
    return and_(
        _eligible,
        or_(
            t.c.mail_availability == MailAvailability.UNLIMITED.value,
            and_(
                t.c.mail_availability == MailAvailability.BY_FREE_RESOURCES.value,
                t.c.open_mail_count < t.c.mail_resources,
            ),
        ),
    )


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _staff_filters(query: StaffQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.search:
        pattern = _like(query.search)
        searched = (t.c.display_name, t.c.email, t.c.first_name, t.c.last_name)
        conditions.append(or_(*(func.lower(c).like(pattern, escape="\\") for c in searched)))
    if query.role is not None:
        conditions.append(t.c.role == query.role.value)
    if query.active is not None:
        conditions.append(t.c.active == query.active)
    if query.online_status is not None:
        conditions.append(t.c.online_status == query.online_status.value)
    return conditions


def _load_columns(channel: Channel) -> tuple[str, str]:
    if channel is Channel.CHAT:
        return "active_chat_count", "last_chat_assigned_at"
    return "open_mail_count", "last_mail_assigned_at"


class SqlCounsellorRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._locked: set[int] = set()  # rows this transaction holds: only those are written whole

    async def get(self, counsellor_id: int) -> Counsellor | None:
        row = (await self._conn.execute(select(t).where(t.c.id == counsellor_id))).first()
        return rows.counsellor(row) if row else None

    async def get_many(self, ids: Sequence[int]) -> dict[int, Counsellor]:
        if not ids:
            return {}
        result = await self._conn.execute(select(t).where(t.c.id.in_(set(ids))))
        return {c.id: c for c in map(rows.counsellor, result)}

    async def lock(self, counsellor_id: int) -> Counsellor | None:
        row = (await self._conn.execute(select(t).where(t.c.id == counsellor_id).with_for_update())).first()
        if row is None:
            return None
        self._locked.add(row.id)
        return rows.counsellor(row)

    async def by_email(self, email: str) -> Counsellor | None:
        row = (await self._conn.execute(select(t).where(t.c.email == email.lower()))).first()
        return rows.counsellor(row) if row else None

    async def add(self, counsellor: Counsellor) -> Counsellor:
        values = rows.counsellor_values(counsellor) | {"created_at": counsellor.created_at}
        with email_index():
            row = (await self._conn.execute(t.insert().values(values).returning(t))).one()
        return rows.counsellor(row)

    async def save(self, counsellor: Counsellor) -> None:
        if counsellor.id not in self._locked:
            raise RuntimeError("a counsellor row is written whole only while this transaction locks it")
        values = rows.counsellor_values(counsellor)
        await self._conn.execute(update(t).where(t.c.id == counsellor.id).values(values))
        fresh = await self.get(counsellor.id)
        if fresh is not None:  # loads may have moved under us: report the stored ones
            counsellor.active_chat_count = fresh.active_chat_count
            counsellor.open_mail_count = fresh.open_mail_count

    async def sign_off(self, counsellor_id: int) -> Counsellor | None:
        statement = (
            update(t)
            .where(t.c.id == counsellor_id, t.c.online_status != OnlineStatus.OFFLINE.value)
            .values(online_status=OnlineStatus.OFFLINE.value)
            .returning(t)
        )
        row = (await self._conn.execute(statement)).first()
        return rows.counsellor(row) if row else None

    async def replace_password(self, counsellor_id: int, verified_hash: str, new_hash: str) -> int | None:
        statement = (
            update(t)
            .where(t.c.id == counsellor_id, t.c.active == true(), t.c.password_hash == verified_hash)
            .values(password_hash=new_hash, session_generation=t.c.session_generation + 1)
            .returning(t.c.session_generation)
        )
        return (await self._conn.execute(statement)).scalar_one_or_none()

    async def filtered(self, online_status: OnlineStatus | None, active: bool | None) -> list[Counsellor]:
        query = select(t).order_by(t.c.sort_name, t.c.id)
        if online_status is not None:
            query = query.where(t.c.online_status == online_status.value)
        if active is not None:
            query = query.where(t.c.active == active)
        return [rows.counsellor(r) for r in await self._conn.execute(query)]

    async def candidates(self, channel: Channel, primary_id: int | None, limit: int) -> list[Counsellor]:
        load, last = _load_columns(channel)
        own = t.c.only_own_clients == false()
        if primary_id is not None:
            own = or_(own, t.c.id == primary_id)
        query = (
            select(t)
            .where(free_condition(channel), own)
            .order_by(t.c[load], t.c[last].asc().nulls_first(), t.c.created_at, t.c.id)
            .limit(limit)
        )
        return [rows.counsellor(r) for r in await self._conn.execute(query)]

    async def claim(
        self, counsellor_id: int, channel: Channel, now: datetime, checked: bool
    ) -> Counsellor | None:
        load, last = _load_columns(channel)
        statement = update(t).where(t.c.id == counsellor_id)
        if checked:
            # Atomic on both databases: the condition is re-checked under the row lock.
            statement = statement.where(free_condition(channel))
        statement = statement.values({load: t.c[load] + 1, last: now}).returning(t)
        row = (await self._conn.execute(statement)).first()
        return rows.counsellor(row) if row else None

    async def touch(self, counsellor_ids: Sequence[int], now: datetime) -> None:
        if counsellor_ids:
            await self._conn.execute(
                update(t).where(t.c.id.in_(set(counsellor_ids))).values(last_seen_at=now)
            )

    async def lapse(self, silent_since: datetime) -> list[Counsellor]:
        # Conditional, so with several processes each lapse is reported by exactly one.
        statement = (
            update(t)
            .where(
                t.c.online_status != OnlineStatus.OFFLINE.value,
                or_(t.c.last_seen_at.is_(None), t.c.last_seen_at < silent_since),
            )
            .values(online_status=OnlineStatus.OFFLINE.value)
            .returning(t)
        )
        return [rows.counsellor(r) for r in await self._conn.execute(statement)]

    async def release(self, counsellor_id: int, channel: Channel) -> Counsellor | None:
        load, _ = _load_columns(channel)
        statement = (
            update(t).where(t.c.id == counsellor_id, t.c[load] > 0).values({load: t.c[load] - 1}).returning(t)
        )
        row = (await self._conn.execute(statement)).first()
        return rows.counsellor(row) if row else await self.get(counsellor_id)

    async def record_login(self, counsellor_id: int, at: datetime) -> None:
        await self._conn.execute(update(t).where(t.c.id == counsellor_id).values(last_login_at=at))

    async def accept_invitation(self, counsellor_id: int, password_hash: str, at: datetime) -> int | None:
        statement = (
            update(t)
            .where(t.c.id == counsellor_id, t.c.active == true())
            .values(
                password_hash=password_hash,
                invitation_status=InvitationStatus.REGISTERED.value,
                last_login_at=at,
                session_generation=t.c.session_generation + 1,
            )
            .returning(t.c.session_generation)
        )
        return (await self._conn.execute(statement)).scalar_one_or_none()

    async def lock_active_admins(self) -> list[int]:
        query = (
            select(t.c.id)
            .where(t.c.role == StaffRole.ADMIN.value, t.c.active == true())
            .order_by(t.c.id)
            .with_for_update()
        )
        return list((await self._conn.execute(query)).scalars())

    async def staff_page(self, query: StaffQuery, first: int, after: str | None) -> Page[Counsellor]:
        where = and_(true(), *_staff_filters(query))
        total = select(func.count()).select_from(t).where(where).scalar_subquery().label("total")
        page = select(t, total).where(where).order_by(t.c.sort_name, t.c.id).limit(first + 1)
        if after is not None:
            name, last_id = rows.decode_cursor(after, str, int)
            page = page.where(or_(t.c.sort_name > name, and_(t.c.sort_name == name, t.c.id > last_id)))
        result = (await self._conn.execute(page)).all()
        if not result:
            count = (await self._conn.execute(select(func.count()).select_from(t).where(where))).scalar_one()
            return Page(items=[], has_next=False, total=count)
        found = [rows.counsellor(r) for r in result]
        items = [(rows.encode_cursor(rows.sort_name(c.display_name), c.id), c) for c in found[:first]]
        return Page(items=items, has_next=len(found) > first, total=result[0].total)

    async def primary_client_counts(self, counsellor_ids: Sequence[int]) -> dict[int, int]:
        found = dict.fromkeys(counsellor_ids, 0)
        if not counsellor_ids:
            return found
        query = (
            select(clients.c.primary_counsellor_id, func.count())
            .where(clients.c.primary_counsellor_id.in_(set(counsellor_ids)))
            .group_by(clients.c.primary_counsellor_id)
        )
        for counsellor_id, count in await self._conn.execute(query):
            found[counsellor_id] = count
        return found
