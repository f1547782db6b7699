"""Clients in SQL, with the client overview's visibility rule as a query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true, union, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import FromClause
from sqlalchemy.sql.util import ClauseAdapter

from domain.model import AccountStatus, Client, InvitationStatus, RequestStatus, Viewer
from domain.ports import ClientQuery, Page, Submitter
from persistence import rows
from persistence.email_addresses import email_index
from persistence.member_list import page_statement, read_page
from persistence.tables import (
    client_totals,
    counsellors,
    request_handlers,
    requests,
    revoked_tokens,
    settings,
)
from persistence.tables import clients as t
from persistence.tables import primary_counsellor_changes as changes

_OPEN = (RequestStatus.QUEUED.value, RequestStatus.ASSIGNED.value)
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
    if query.invitation_status is not None:
        conditions.append(t.c.invitation_status == query.invitation_status.value)
    if query.last_login_after is not None:
        conditions.append(t.c.last_login_at >= query.last_login_after)
    if query.last_login_before is not None:
        conditions.append(t.c.last_login_at < query.last_login_before)
    return conditions


def visible_rows(viewer: Viewer) -> FromClause:
    """The client rows the viewer may see. For a counsellor a UNION ALL of disjoint indexed parts:
    their primary clients (ix_clients_primary), the other clients of requests they hold
    (ix_requests_counsellor), clients granted to this response; an OR of those makes the database
    scan every client in name order. Admins: the table."""
    if viewer.is_admin:
        return t
    granted = sorted(viewer.granted_client_ids)
    if viewer.is_staff:
        me = viewer.counsellor_id or 0
        not_mine = or_(t.c.primary_counsellor_id.is_(None), t.c.primary_counsellor_id != me)
        held = held_client_ids(me)
        parts = [
            select(t).where(t.c.primary_counsellor_id == me),
            select(t).where(t.c.id.in_(held), not_mine),
        ]
        if granted:
            parts.append(select(t).where(t.c.id.in_(granted), not_mine, t.c.id.not_in(held)))
    else:
        own = viewer.client_id or 0
        parts = [select(t).where(t.c.id == own)]
        if granted:
            parts.append(select(t).where(t.c.id.in_(granted), t.c.id != own))
    return union_all(*parts).cte("v")


def visible_request_of(viewer: Viewer, r: Any, primary: Any) -> ColumnElement[bool]:
    """SQL mirror of domain.visibility.sees_request for a request `r` of a client whose primary
    counsellor column is `primary` (correlated to the outer client row)."""
    if viewer.is_admin:
        return true()
    if viewer.is_staff:
        me = viewer.counsellor_id or 0
        handled = (
            select(request_handlers.c.request_id)
            .where(request_handlers.c.request_id == r.c.id, request_handlers.c.counsellor_id == me)
            .exists()
        )
        return or_(primary == me, r.c.counsellor_id == me, handled)
    return r.c.client_id == (viewer.client_id or 0)


def open_request_count(viewer: Viewer, rows: Any = t) -> Any:
    """Per client row of `rows`: its open requests the viewer may see (a count on ix_requests_client)."""
    r = requests.alias("r")
    return (
        select(func.count())
        .select_from(r)
        .where(
            r.c.client_id == rows.c.id,
            r.c.status.in_(_OPEN),
            visible_request_of(viewer, r, rows.c.primary_counsellor_id),
        )
        .scalar_subquery()
    )


def last_request_at(rows: Any = t) -> Any:
    r = requests.alias("lr")
    return select(func.max(r.c.created_at)).where(r.c.client_id == rows.c.id).scalar_subquery()


def _total(source: FromClause, where: ColumnElement[bool], counted: bool) -> Any:
    """The number of rows of `source` matching `where`: for all clients (`counted`) the sum of
    the trigger-kept client_totals, as exact as count(*) in the same snapshot but 16 rows to read
    instead of every client; else the count."""
    if counted:
        return select(func.coalesce(func.sum(client_totals.c.n), 0)).scalar_subquery()
    moved = where if source is t else ClauseAdapter(source).traverse(where)
    return select(func.count()).select_from(source).where(moved).scalar_subquery()


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
        """One statement: the page, each of its clients with their open request count and last
        request time, and the total as a scalar subquery (which, unlike a window count, does not
        make the database read every visible row before the LIMIT)."""
        source = visible_rows(viewer)
        conditions = _filters(query)
        where = and_(true(), *conditions)

        def per_row(page: Any) -> list[Any]:
            return [
                open_request_count(viewer, page).label("open_request_count"),
                last_request_at(page).label("last_request_at"),
            ]

        total = _total(source, where, counted=viewer.is_admin and not conditions)
        statement = page_statement(source, where, query.order, first, after, per_row, total)
        result = (await self._conn.execute(statement)).all()
        if not result:  # an empty page carries no row to read the total from
            return Page(
                items=[], has_next=False, total=(await self._conn.execute(select(total))).scalar_one()
            )
        return read_page(result, first, rows.client)

    async def open_request_counts(self, viewer: Viewer, client_ids: Sequence[int]) -> dict[int, int]:
        if not client_ids:
            return {}
        query = select(t.c.id, open_request_count(viewer)).where(t.c.id.in_(set(client_ids)))
        return {i: n for i, n in await self._conn.execute(query)}

    async def last_request_times(self, client_ids: Sequence[int]) -> dict[int, datetime | None]:
        if not client_ids:
            return {}
        query = select(t.c.id, last_request_at()).where(t.c.id.in_(set(client_ids)))
        return {i: when for i, when in await self._conn.execute(query)}

    async def change_status(
        self, client_id: int, to: AccountStatus, expected: Sequence[AccountStatus], **times: datetime | None
    ) -> Client | None:
        values: dict[str, Any] = {"account_status": to.value, **times}
        if to is not AccountStatus.ACTIVE:
            values["session_generation"] = t.c.session_generation + 1
        statement = (
            update(t)
            .where(
                t.c.id == client_id,
                t.c.account_status.in_([e.value for e in expected]),
                t.c.erased_at.is_(None),
            )
            .values(values)
            .returning(t)
        )
        row = (await self._conn.execute(statement)).first()
        return rows.client(row) if row else None

    async def accept_invitation(self, client_id: int, password_hash: str, at: datetime) -> int | None:
        statement = (
            update(t)
            .where(
                t.c.id == client_id, t.c.account_status == AccountStatus.ACTIVE.value, t.c.erased_at.is_(None)
            )
            .values(
                password_hash=password_hash,
                invitation_status=InvitationStatus.REGISTERED.value,
                last_login_at=at,
                session_generation=t.c.session_generation + 1,
            )
            .returning(t.c.session_generation)
        )
        return (await self._conn.execute(statement)).scalar_one_or_none()

    async def erasure_due(self, now: datetime, limit: int) -> list[int]:
        query = (
            select(t.c.id)
            .where(
                t.c.erasure_due_at <= now,
                t.c.account_status == AccountStatus.DELETED.value,
                t.c.erased_at.is_(None),
            )
            .order_by(t.c.erasure_due_at)
            .limit(limit)
        )
        return list((await self._conn.execute(query)).scalars())

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
