"""History, settings, revoked tokens and the invitation outbox."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, delete, false, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import (
    AuditEntry,
    Client,
    Counsellor,
    Invitation,
    PrimaryCounsellorChange,
    RequestStatus,
    Settings,
    Viewer,
)
from domain.ports import Attempt, Page
from domain.throttling import retry_after
from persistence import rows
from persistence.member_repositories import erase_client_mail
from persistence.tables import (
    audit_log,
    clients,
    counsellors,
    invitation_outbox,
    primary_counsellor_changes,
    rate_limit_hits,
    requests,
    revoked_tokens,
)
from persistence.tables import settings as settings_table

SETTINGS_ROW = 1


class SqlHistoryRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, change: PrimaryCounsellorChange) -> PrimaryCounsellorChange:
        t = primary_counsellor_changes
        values = {
            "client_id": change.client_id,
            "previous_counsellor_id": change.previous_counsellor_id,
            "new_counsellor_id": change.new_counsellor_id,
            "source": change.source.value,
            "changed_by_id": change.changed_by_id,
            "reason": change.reason,
            "changed_at": change.changed_at,
        }
        return rows.change((await self._conn.execute(t.insert().values(values).returning(t))).one())

    async def for_clients(self, client_ids: Sequence[int]) -> dict[int, list[PrimaryCounsellorChange]]:
        t = primary_counsellor_changes
        found: dict[int, list[PrimaryCounsellorChange]] = {i: [] for i in client_ids}
        if client_ids:
            query = select(t).where(t.c.client_id.in_(set(client_ids))).order_by(t.c.id)
            for change in map(rows.change, await self._conn.execute(query)):
                found[change.client_id].append(change)
        return found

    async def visible_since(
        self, viewer: Viewer, since: datetime, limit: int, client_id: int | None = None
    ) -> list[PrimaryCounsellorChange]:
        t = primary_counsellor_changes
        query = select(t).where(t.c.changed_at >= since, visible_changes(viewer))
        if client_id is not None:
            query = query.where(t.c.client_id == client_id)
        query = query.order_by(t.c.changed_at, t.c.id).limit(limit)
        return [rows.change(row) for row in await self._conn.execute(query)]


def visible_changes(viewer: Viewer) -> ColumnElement[bool]:
    """SQL mirror of domain.visibility.sees_primary_change."""
    t = primary_counsellor_changes
    if viewer.is_admin:
        return true()
    if not viewer.is_staff or viewer.counsellor_id is None:
        return false()
    me = viewer.counsellor_id
    primary_of = select(clients.c.id).where(clients.c.primary_counsellor_id == me)
    held = select(requests.c.client_id).where(
        requests.c.counsellor_id == me, requests.c.status == RequestStatus.ASSIGNED.value
    )
    return or_(
        t.c.previous_counsellor_id == me,
        t.c.new_counsellor_id == me,
        t.c.client_id.in_(primary_of),
        t.c.client_id.in_(held),
    )


class SqlSettingsRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn
        self._locked = False  # only settings read under the lock are written back

    async def get(self) -> Settings:
        return await self._read(lock=False)

    async def lock(self) -> Settings:
        found = await self._read(lock=True)
        self._locked = True
        return found

    async def _read(self, *, lock: bool) -> Settings:
        t = settings_table
        query = select(t).where(t.c.id == SETTINGS_ROW)
        row = (await self._conn.execute(query.with_for_update() if lock else query)).first()
        if row is None:
            return Settings()
        return Settings(
            fallback_counsellor_id=row.fallback_counsellor_id,
            primary_chat_wait_seconds=row.primary_chat_wait_seconds,
            presence_timeout_seconds=row.presence_timeout_seconds,
            accept_timeout_seconds=row.accept_timeout_seconds,
        )

    async def save(self, settings: Settings) -> None:
        if not self._locked:
            raise RuntimeError("the settings are written only while this transaction locks them")
        t = settings_table
        values = {
            "fallback_counsellor_id": settings.fallback_counsellor_id,
            "primary_chat_wait_seconds": settings.primary_chat_wait_seconds,
            "presence_timeout_seconds": settings.presence_timeout_seconds,
            "accept_timeout_seconds": settings.accept_timeout_seconds,
        }
        result = await self._conn.execute(update(t).where(t.c.id == SETTINGS_ROW).values(values))
        if not result.rowcount:
            await self._conn.execute(t.insert().values(id=SETTINGS_ROW, **values))


class SqlTokenRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def revoke(self, token_id: str, expires_at: datetime) -> None:
        if not await self.is_revoked(token_id):
            await self._conn.execute(revoked_tokens.insert().values(token_id=token_id, expires_at=expires_at))

    async def is_revoked(self, token_id: str) -> bool:
        query = select(revoked_tokens.c.token_id).where(revoked_tokens.c.token_id == token_id)
        return (await self._conn.execute(query)).first() is not None

    async def session(
        self, client: bool, account_id: int, token_id: str
    ) -> tuple[Counsellor | Client | None, bool]:
        table = clients if client else counsellors
        revoked = select(revoked_tokens.c.token_id).where(revoked_tokens.c.token_id == token_id).exists()
        query = select(table, revoked.label("revoked")).where(table.c.id == account_id)
        row = (await self._conn.execute(query)).first()
        if row is None:
            return None, await self.is_revoked(token_id)
        return (rows.client(row) if client else rows.counsellor(row)), bool(row.revoked)


class SqlInvitationOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, invitation: Invitation) -> None:
        await self._conn.execute(
            invitation_outbox.insert().values(
                client_id=invitation.client_id, email=invitation.email, created_at=invitation.created_at
            )
        )

    async def of_client(self, client_id: int) -> list[Invitation]:
        query = (
            select(invitation_outbox)
            .where(invitation_outbox.c.client_id == client_id)
            .order_by(invitation_outbox.c.id)
        )
        return [
            Invitation(
                client_id=r.client_id, email=r.email, created_at=r.created_at, id=r.id, sent_at=r.sent_at
            )
            for r in await self._conn.execute(query)
        ]

    async def erase_for(self, client_id: int) -> None:
        await self._conn.execute(delete(invitation_outbox).where(invitation_outbox.c.client_id == client_id))
        # The mails and invitation tokens of member management go with it (persistence.member_repositories).
        await erase_client_mail(self._conn, client_id)


class SqlRateLimits:
    """Attempts in a moving window, shared by every process through the database."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def attempt(self, key: str, limit: int, since: datetime, now: datetime) -> Attempt:
        await self._hold(key)
        hits = rate_limit_hits.c
        await self._conn.execute(delete(rate_limit_hits).where(hits.key == key, hits.at <= since))
        counted, oldest = (
            await self._conn.execute(select(func.count(), func.min(hits.at)).where(hits.key == key))
        ).one()
        if counted >= limit:
            return Attempt(key, None, retry_after(oldest or now, since, now))
        insert = rate_limit_hits.insert().values(key=key, at=now).returning(hits.id)
        return Attempt(key, str((await self._conn.execute(insert)).scalar_one()))

    async def _hold(self, key: str) -> None:
        """Serialise the attempts of one key until commit: two transactions counting the same
        rows under READ COMMITTED would both see room for one more. SQLite needs nothing: its
        write transactions (BEGIN IMMEDIATE) hold the database's one write lock already."""
        if self._conn.dialect.name == "postgresql":
            lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
            await self._conn.execute(select(func.pg_advisory_xact_lock(lock_id)))

    async def take_back(self, attempt: Attempt) -> None:
        if attempt.id is not None:
            await self._conn.execute(delete(rate_limit_hits).where(rate_limit_hits.c.id == int(attempt.id)))

    async def clear(self, key: str) -> None:
        await self._conn.execute(delete(rate_limit_hits).where(rate_limit_hits.c.key == key))

    async def forget_until(self, moment: datetime) -> int:
        # Rows a sign-in holds are skipped (the next sweep takes them): waiting for them while
        # holding others could deadlock with it.
        hits = rate_limit_hits.c
        old = select(hits.id).where(hits.at <= moment).with_for_update(skip_locked=True)
        return (await self._conn.execute(delete(rate_limit_hits).where(hits.id.in_(old)))).rowcount


class SqlAuditLog:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, entry: AuditEntry) -> None:
        await self._conn.execute(
            audit_log.insert().values(
                at=entry.at,
                actor_id=entry.actor_id,
                action=entry.action,
                subject_type=entry.subject_type,
                subject_id=entry.subject_id,
                detail=entry.detail,
            )
        )

    async def page(self, first: int, after: str | None) -> Page[AuditEntry]:
        query = select(audit_log).order_by(audit_log.c.id.desc()).limit(first + 1)
        if after is not None:
            (last_id,) = rows.decode_cursor(after, int)
            query = query.where(audit_log.c.id < last_id)
        found = [rows.audit_entry(r) for r in await self._conn.execute(query)]
        total = (await self._conn.execute(select(func.count()).select_from(audit_log))).scalar_one()
        items = [(rows.encode_cursor(e.id), e) for e in found[:first]]
        return Page(items=items, has_next=len(found) > first, total=total)
