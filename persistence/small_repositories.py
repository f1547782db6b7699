"""History, settings, revoked tokens and the invitation outbox."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import Invitation, PrimaryCounsellorChange, Settings
from persistence import rows
from persistence.tables import invitation_outbox, primary_counsellor_changes, revoked_tokens
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


class SqlSettingsRepository:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def get(self) -> Settings:
        t = settings_table
        row = (await self._conn.execute(select(t).where(t.c.id == SETTINGS_ROW))).first()
        if row is None:
            return Settings()
        return Settings(
            fallback_counsellor_id=row.fallback_counsellor_id,
            primary_chat_wait_seconds=row.primary_chat_wait_seconds,
            presence_timeout_seconds=row.presence_timeout_seconds,
            accept_timeout_seconds=row.accept_timeout_seconds,
        )

    async def save(self, settings: Settings) -> None:
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


class SqlInvitationOutbox:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def add(self, invitation: Invitation) -> None:
        await self._conn.execute(
            invitation_outbox.insert().values(
                client_id=invitation.client_id, email=invitation.email, created_at=invitation.created_at
            )
        )
