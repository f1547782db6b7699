"""Clients in SQL, with the client overview's visibility rule as a query."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, false, func, or_, select, true, union, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import AccountStatus, Client, Counsellor, InvitationStatus, RequestStatus, Viewer
from domain.ports import ClientPage, ClientQuery, Submitter
from persistence import rows
from persistence.email_addresses import email_index
from persistence.member_list import Binds, after_cursor, limit, page_statement, read_page
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


def held_client_ids(counsellor_id: Any) -> Select[Any]:
    """Clients of the requests a counsellor holds now."""
    return select(requests.c.client_id).where(
        requests.c.counsellor_id == counsellor_id, requests.c.status == RequestStatus.ASSIGNED.value
    )


def _like(text: str) -> str:
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filters(query: ClientQuery, binds: Binds) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.primary_counsellor_id is not None:
        conditions.append(t.c.primary_counsellor_id == binds("primary", query.primary_counsellor_id))
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
        conditions.append(t.c.account_status == binds("account_status", query.account_status.value))
    if query.search:
        conditions.append(t.c.search_text.like(binds("search", _like(query.search)), escape="\\"))
    if query.invitation_status is not None:
        conditions.append(t.c.invitation_status == binds("invitation_status", query.invitation_status.value))
    if query.last_login_after is not None:
        conditions.append(t.c.last_login_at >= binds("login_after", query.last_login_after))
    if query.last_login_before is not None:
        conditions.append(t.c.last_login_at < binds("login_before", query.last_login_before))
    return conditions


def visible_parts(viewer: Viewer, binds: Binds) -> list[ColumnElement[bool]]:
    """SQL mirror of domain.visibility.sees_client as disjoint conditions, each on an index of
    its own: for a counsellor their primary clients (ix_clients_primary), the other clients of
    requests they hold (ix_requests_counsellor), clients granted to this response; an OR of those
    makes the database scan every client in name order. Admins: every client."""
    if viewer.is_admin:
        return [true()]
    granted = sorted(viewer.granted_client_ids)
    if viewer.is_staff:
        me = binds("me", viewer.counsellor_id or 0)
        not_mine = or_(t.c.primary_counsellor_id.is_(None), t.c.primary_counsellor_id != me)
        held = held_client_ids(me)
        parts = [t.c.primary_counsellor_id == me, and_(t.c.id.in_(held), not_mine)]
        if granted:
            parts.append(
                and_(t.c.id.in_(binds("granted", granted, expanding=True)), not_mine, t.c.id.not_in(held))
            )
        return parts
    own = binds("own", viewer.client_id or 0)
    if granted:
        return [t.c.id == own, and_(t.c.id.in_(binds("granted", granted, expanding=True)), t.c.id != own)]
    return [t.c.id == own]


def visible_request_of(viewer: Viewer, r: Any, primary: Any, binds: Binds) -> ColumnElement[bool]:
    """SQL mirror of domain.visibility.sees_request for a request `r` of a client whose primary
    counsellor column is `primary` (correlated to the outer client row)."""
    if viewer.is_admin:
        return true()
    if viewer.is_staff:
        me = binds("me", viewer.counsellor_id or 0)
        handled = (
            select(request_handlers.c.request_id)
            .where(request_handlers.c.request_id == r.c.id, request_handlers.c.counsellor_id == me)
            .exists()
        )
        return or_(primary == me, r.c.counsellor_id == me, handled)
    return r.c.client_id == binds("own", viewer.client_id or 0)


def open_request_count(viewer: Viewer, binds: Binds, rows: Any = t) -> Any:
    """Per client row of `rows`: its open requests the viewer may see (a count on ix_requests_client)."""
    r = requests.alias("r")
    return (
        select(func.count())
        .select_from(r)
        .where(
            r.c.client_id == rows.c.id,
            r.c.status.in_(_OPEN),
            visible_request_of(viewer, r, rows.c.primary_counsellor_id, binds),
        )
        .scalar_subquery()
    )


def last_request_at(rows: Any = t) -> Any:
    r = requests.alias("lr")
    return select(func.max(r.c.created_at)).where(r.c.client_id == rows.c.id).scalar_subquery()


def _total(parts: list[ColumnElement[bool]], filters: ColumnElement[bool], counted: bool) -> Any:
    """The number of visible clients matching `filters`: for all clients (`counted`) the sum of
    the trigger-kept client_totals, as exact as count(*) in the same snapshot but 16 rows to read
    instead of every client; else the count."""
    if counted:
        return select(func.coalesce(func.sum(client_totals.c.n), 0)).scalar_subquery()
    if len(parts) == 1:
        return select(func.count()).select_from(t).where(parts[0], filters).scalar_subquery()
    ids = union_all(*[select(t.c.id).where(part, filters) for part in parts]).subquery()
    return select(func.count()).select_from(ids).scalar_subquery()


def _page_of(
    viewer: Viewer, query: ClientQuery, first: int, after: str | None, lateral: bool
) -> tuple[Any, Binds]:
    """The page statement of this query's shape (cached: built once per shape) and this query's
    binds. The parts, filters and cursor are built each time, as they collect the binds; the
    statement around them only on a miss. `lateral` (PostgreSQL) joins the primaries LATERAL."""
    binds = Binds()
    conditions = _filters(query, binds)
    parts = visible_parts(viewer, binds)
    cursor = after_cursor(query.order, after, binds) if after is not None else None
    page_limit = limit(first, binds)
    shape = (
        viewer.is_admin,
        viewer.is_staff,
        query.order,
        query.unassigned,
        query.primary_inactive,
        lateral,
        *sorted(binds),
    )
    statement = _PAGES.get(shape)
    if statement is None:
        filters = and_(true(), *conditions)

        def per_row(page: Any) -> list[Any]:
            return [
                open_request_count(viewer, binds, page).label("open_request_count"),
                last_request_at(page).label("last_request_at"),
            ]

        total = _total(parts, filters, counted=viewer.is_admin and not conditions)
        built = page_statement(parts, filters, cursor, query.order, page_limit, per_row, total)
        # The primary counsellor of each row comes along, so the page needs no second read for
        # them. A plain join makes PostgreSQL hash every counsellor for 51 rows; LATERAL (with a
        # LIMIT, which keeps the planner from turning it back into that join) looks each up by id.
        # SQLite has no LATERAL, and loops over the rows anyway.
        of_row = built.selected_columns.primary_counsellor_id
        if lateral:
            primary: Any = select(counsellors).where(counsellors.c.id == of_row).limit(1).lateral("pc")
            on = true()
        else:
            primary = counsellors.alias("pc")
            on = primary.c.id == of_row
        labels = [c.label(f"primary_{c.name}") for c in primary.c]
        statement = built.add_columns(*labels).outerjoin(primary, on)
        if len(_PAGES) >= _SHAPES:
            _PAGES.clear()
        _PAGES[shape] = statement
    return statement, binds


_SHAPES = 256  # at most this many page statements are kept
_PAGES: dict[tuple[Any, ...], Any] = {}


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
    ) -> ClientPage:
        """One statement: the page, each of its clients with their open request count, last
        request time and primary counsellor, and the total as a scalar subquery (which, unlike a
        window count, does not make the database read every visible row before the LIMIT)."""
        lateral = self._conn.dialect.name == "postgresql"
        statement, binds = _page_of(viewer, query, first, after, lateral)
        result = (await self._conn.execute(statement, binds)).all()
        if not result:  # an empty page carries no row to read the total from
            total = await self._conn.execute(select(statement.selected_columns.total), binds)
            return ClientPage(items=[], has_next=False, total=total.scalar_one())
        page = read_page(result, first, rows.client)
        primaries: dict[int, Counsellor] = {}
        for r in result:  # each primary once, however many of the page's clients they have
            if r.primary_id is not None and r.primary_id not in primaries:
                primaries[r.primary_id] = rows.counsellor(r, "primary_")
        return ClientPage(page.items, page.has_next, page.total, primaries)

    async def open_request_counts(self, viewer: Viewer, client_ids: Sequence[int]) -> dict[int, int]:
        if not client_ids:
            return {}
        binds = Binds()
        query = select(t.c.id, open_request_count(viewer, binds)).where(t.c.id.in_(set(client_ids)))
        return {i: n for i, n in await self._conn.execute(query, binds)}

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
