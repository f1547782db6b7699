"""Invitation tokens and the mail outbox in SQL."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import Row, and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.model import AccountKind, InvitationToken, OutgoingMail
from persistence.crypto import TextCipher
from persistence.tables import invitations as inv
from persistence.tables import mail_outbox as mails


def _token(row: Row[object]) -> InvitationToken:
    m = row._mapping
    kind = AccountKind(m["kind"])
    account = m["client_id"] if kind is AccountKind.CLIENT else m["counsellor_id"]
    return InvitationToken(kind, account, m["token_hash"], m["created_at"], m["expires_at"])


class SqlInvitations:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def replace(self, token: InvitationToken) -> None:
        account = inv.c.client_id if token.kind is AccountKind.CLIENT else inv.c.counsellor_id
        await self._conn.execute(
            delete(inv).where(inv.c.kind == token.kind.value, account == token.account_id)
        )
        is_client = token.kind is AccountKind.CLIENT
        await self._conn.execute(
            inv.insert().values(
                token_hash=token.token_hash,
                kind=token.kind.value,
                client_id=token.account_id if is_client else None,
                counsellor_id=None if is_client else token.account_id,
                created_at=token.created_at,
                expires_at=token.expires_at,
            )
        )

    async def find(self, token_hash: str) -> InvitationToken | None:
        query = select(inv).where(inv.c.token_hash == token_hash, inv.c.used_at.is_(None))
        row = (await self._conn.execute(query)).first()
        return _token(row) if row else None

    async def use(self, token_hash: str, now: datetime) -> bool:
        # Conditional: of two parallel uses the second finds used_at set (PostgreSQL re-checks the
        # condition after waiting for the first's row lock; SQLite writes one at a time).
        statement = (
            update(inv)
            .where(inv.c.token_hash == token_hash, inv.c.used_at.is_(None), inv.c.expires_at > now)
            .values(used_at=now)
        )
        return bool((await self._conn.execute(statement)).rowcount)

    async def pending_counsellor_ids(self, now: datetime) -> set[int]:
        query = select(inv.c.counsellor_id).where(
            inv.c.counsellor_id.is_not(None), inv.c.used_at.is_(None), inv.c.expires_at > now
        )
        return set((await self._conn.execute(query)).scalars())


class SqlMailOutbox:
    """Mails; the body (it carries an invitation link) is encrypted at rest."""

    def __init__(self, conn: AsyncConnection, cipher: TextCipher) -> None:
        self._conn = conn
        self._cipher = cipher

    async def add(self, mail: OutgoingMail) -> None:
        await self._conn.execute(
            mails.insert().values(
                recipient=mail.recipient,
                subject=mail.subject,
                body=self._cipher.encrypt(mail.body),
                client_id=mail.client_id,
                created_at=mail.created_at,
                attempts=0,
                next_attempt_at=mail.created_at,
            )
        )

    async def claim(self, now: datetime, lease_seconds: float, limit: int) -> list[OutgoingMail]:
        claim = secrets.token_hex(16)
        due = and_(
            mails.c.sent_at.is_(None),
            mails.c.next_attempt_at <= now,
            or_(mails.c.claimed_until.is_(None), mails.c.claimed_until < now),
        )
        # SKIP LOCKED on PostgreSQL: a parallel sender takes other rows instead of waiting; the
        # conditional UPDATE re-checks `due`, so a row is claimed by one sender only.
        chosen = (
            select(mails.c.id).where(due).order_by(mails.c.id).limit(limit).with_for_update(skip_locked=True)
        )
        statement = (
            update(mails)
            .where(mails.c.id.in_(chosen), due)
            .values(claim=claim, claimed_until=now + timedelta(seconds=lease_seconds))
            .returning(mails)
        )
        found = []
        for row in await self._conn.execute(statement):
            m = row._mapping
            body = self._cipher.decrypt(m["body"]) or ""
            found.append(
                OutgoingMail(
                    m["recipient"],
                    m["subject"],
                    body,
                    m["created_at"],
                    m["client_id"],
                    m["id"],
                    m["attempts"],
                    claim,
                )
            )
        return sorted(found, key=lambda mail: mail.id)

    async def sent(self, mail: OutgoingMail, now: datetime) -> None:
        await self._conn.execute(
            update(mails)
            .where(mails.c.id == mail.id, mails.c.claim == mail.claim)
            .values(sent_at=now, claimed_until=None)
        )

    async def failed(self, mail: OutgoingMail, retry_at: datetime) -> None:
        await self._conn.execute(
            update(mails)
            .where(mails.c.id == mail.id, mails.c.claim == mail.claim)
            .values(attempts=mails.c.attempts + 1, next_attempt_at=retry_at, claim=None, claimed_until=None)
        )

    async def erase_for(self, client_id: int) -> None:
        await erase_client_mail(self._conn, client_id)


async def erase_client_mail(conn: AsyncConnection, client_id: int) -> None:
    """A client's mails (sent or not) and invitation tokens: part of erasing the client."""
    await conn.execute(delete(mails).where(mails.c.client_id == client_id))
    await conn.execute(delete(inv).where(inv.c.client_id == client_id))
