"""Clients in SQL, with the client overview's visibility rule as a query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true, union, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import AccountStatus, Client, InvitationStatus, RequestStatus, Viewer
from domain.ports import ClientQuery, Page, Submitter
from persistence import rows
from persistence.email_addresses import email_index
from persistence.tables import clients as t
from persistence.tables import counsellors, requests, revoked_tokens, settings
from persistence.tables import primary_counsellor_changes as changes

SETTINGS_ROW = 1


def held_client_ids(counsellor_id: int) -> Select[Any]:
    """Clients of the requests a counsellor holds now."""
    return select(requests.c.client_id).where(
        requests.c.counsellor_id == counsellor_id, requests.c.status == RequestStatus.ASSIGNED.value
    )


def visible_clients(viewer: Viewer) -> ColumnElement[bool]:
    """SQL mirror of domain.visibility.sees_client."""
    if viewer.is_admin:
        return true()
    granted = t.c.id.in_(sorted(viewer.granted_client_ids))
    if viewer.is_staff:
        me = viewer.counsellor_id
        return or_(t.c.primary_counsellor_id == me, t.c.id.in_(held_client_ids(me or 0)), granted)
    return or_(t.c.id == (viewer.client_id or 0), granted)


def _like(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(query: ClientQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.primary_counsellor_id is not None:
        conditions.append(t.c.primary_counsellor_id == query.primary_counsellor_id)
    if query.unassigned is True:
        conditions.append(t.c.primary_counsellor_id.is_(None))
    elif query.unassigned is False:
        conditions.append(t.c.primary_counsellor_id.is_not(None))
    if query.primary_inactive is not None:
        inactive = select(counsellors.c.id).where(counsellors.c.active == false())
        in_inactive = t.c.primary_counsellor_id.in_(inactive)
        conditions.append(
            in_inactive if query.primary_inactive else or_(~in_inactive, t.c.primary_counsellor_id.is_(None))
        )
    if query.account_status is not None:
        conditions.append(t.c.account_status == query.account_status.value)
    if query.search:
        conditions.append(t.c.search_text.like(_like(query.search), escape="\\"))
    return conditions


class SqlClientRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._locked: set[int] = set()  # rows this transaction holds: only those are written whole

    async def get(self, client_id: int) -> Client | None:
        row = (await self._conn.execute(select(t).where(t.c.id == client_id))).first()
        return rows.client(row) if row else None

    async def get_many(self, ids: Sequence[int]) -> dict[int, Client]:
        if not ids:
            return {}
        result = await self._conn.execute(select(t).where(t.c.id.in_(set(ids))))
        return {c.id: c for c in map(rows.client, result)}

    async def lock(self, client_id: int) -> Client | None:
        row = (await self._conn.execute(select(t).where(t.c.id == client_id).with_for_update())).first()
        if row is None:
            return None
        self._locked.add(row.id)
        return rows.client(row)

    async def lock_submitter(self, client_id: int, token_id: str | None) -> Submitter | None:
        # Only facts the client's lock does not guard ride along: this statement's snapshot may
        # predate the commit of the transaction it waited for (reads of the client's requests
        # come in a statement of their own, after the lock).
        revoked = select(revoked_tokens.c.token_id).where(revoked_tokens.c.token_id == token_id).exists()
        read_settings = [c.label(f"settings_{c.name}") for c in settings.c]
        query = (
            select(t, (revoked if token_id is not None else false()).label("token_revoked"), *read_settings)
            .select_from(t.outerjoin(settings, settings.c.id == SETTINGS_ROW))
            .where(t.c.id == client_id)
            .with_for_update(of=t)
        )
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None
        self._locked.add(row.id)
        return Submitter(rows.client(row), bool(row.token_revoked), rows.settings(row, "settings_"))

    async def by_email(self, email: str) -> Client | None:
        row = (await self._conn.execute(select(t).where(t.c.email == email.lower()))).first()
        return rows.client(row) if row else None

    async def code_taken(self, code: str) -> bool:
        return (await self._conn.execute(select(t.c.id).where(t.c.client_code == code))).first() is not None

    async def add(self, client: Client) -> Client:
        values = rows.client_values(client) | {"primary_counsellor_id": None}
        with email_index():
            row = (await self._conn.execute(t.insert().values(values).returning(t))).one()
        return rows.client(row)

    async def record_login(self, client_id: int, at: datetime) -> bool:
        statement = (
            update(t)
            .where(t.c.id == client_id, t.c.account_status == AccountStatus.ACTIVE.value)
            .values(last_login_at=at)
        )
        return bool((await self._conn.execute(statement)).rowcount)

    async def save_profile(self, client: Client) -> None:
        self._require_lock(client.id)
        values = rows.client_profile_values(client)
        with email_index():
            await self._conn.execute(update(t).where(t.c.id == client.id).values(values))

    async def set_invitation_status(self, client_id: int, status: InvitationStatus) -> None:
        await self._conn.execute(update(t).where(t.c.id == client_id).values(invitation_status=status.value))

    async def replace_password(self, client_id: int, verified_hash: str, new_hash: str) -> int | None:
        statement = (
            update(t)
            .where(
                t.c.id == client_id,
                t.c.account_status == AccountStatus.ACTIVE.value,
                t.c.password_hash == verified_hash,
            )
            .values(password_hash=new_hash, session_generation=t.c.session_generation + 1)
            .returning(t.c.session_generation)
        )
        return (await self._conn.execute(statement)).scalar_one_or_none()

    def _require_lock(self, client_id: int) -> None:
        if client_id not in self._locked:
            raise RuntimeError("a client row is written whole only while this transaction locks it")

    async def set_primary(self, client_id: int, new_id: int | None, expected: int | None) -> bool:
        current = t.c.primary_counsellor_id
        guard = current.is_(None) if expected is None else current == expected
        result = await self._conn.execute(
            update(t).where(t.c.id == client_id, guard).values(primary_counsellor_id=new_id)
        )
        return bool(result.rowcount)

    async def visible_page(
        self, viewer: Viewer, query: ClientQuery, first: int, after: str | None
    ) -> Page[Client]:
        where = and_(visible_clients(viewer), *_filters(query))
        # The total rides along as a scalar subquery: one statement, and unlike a window count it
        # does not make the database read every visible row before the LIMIT.
        counted = select(func.count()).select_from(t).where(where).scalar_subquery().label("total")
        page = select(t, counted).where(where).order_by(t.c.sort_name, t.c.id).limit(first + 1)
        if after is not None:
            name, last_id = rows.decode_cursor(after, str, int)
            page = page.where(or_(t.c.sort_name > name, and_(t.c.sort_name == name, t.c.id > last_id)))
        result = (await self._conn.execute(page)).all()
        found = [rows.client(r) for r in result]
        total = result[0].total if result else 0
        if not result:  # an empty page carries no row to read the total from
            total = (await self._conn.execute(select(func.count()).select_from(t).where(where))).scalar_one()
        items = [(rows.encode_cursor(rows.sort_name(c.display_name), c.id), c) for c in found[:first]]
        return Page(items=items, has_next=len(found) > first, total=total)

    async def holder_ids(self, client_id: int) -> set[int]:
        return (await self.holders_of([client_id]))[client_id]

    async def holders_of(self, client_ids: Sequence[int]) -> dict[int, set[int]]:
        found: dict[int, set[int]] = {i: set() for i in client_ids}
        if not client_ids:
            return found
        query = select(requests.c.client_id, requests.c.counsellor_id).where(
            requests.c.client_id.in_(set(client_ids)),
            requests.c.status == RequestStatus.ASSIGNED.value,
            requests.c.counsellor_id.is_not(None),
        )
        for client_id, counsellor_id in await self._conn.execute(query):
            found[client_id].add(counsellor_id)
        return found

    async def primary_of(self, counsellor_id: int) -> list[Client]:
        query = select(t).where(t.c.primary_counsellor_id == counsellor_id).order_by(t.c.id).with_for_update()
        found = [rows.client(r) for r in await self._conn.execute(query)]
        self._locked.update(c.id for c in found)
        return found

    async def erase(self, client: Client) -> None:
        self._require_lock(client.id)
        await self._conn.execute(update(t).where(t.c.id == client.id).values(rows.client_values(client)))

    async def related_counsellor_ids(self, client_id: int) -> set[int]:
        query = union(
            select(requests.c.counsellor_id.label("id")).where(requests.c.client_id == client_id),
            select(changes.c.previous_counsellor_id).where(changes.c.client_id == client_id),
            select(changes.c.new_counsellor_id).where(changes.c.client_id == client_id),
            select(t.c.primary_counsellor_id).where(t.c.id == client_id),
        )
        return {r[0] for r in await self._conn.execute(query) if r[0] is not None}
