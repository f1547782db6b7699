"""E-mail addresses of accounts in SQL: one account per address, across clients and counsellors.

No index spans both tables, so the address is held by a lock while it is checked and stored.
The unique index of each table stays the backstop; its violation becomes EmailTaken.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from domain.errors import EmailTaken

# The unique constraints on e-mail as PostgreSQL and SQLite name them in their messages.
_EMAIL_INDEXES = ("uq_clients_email", "uq_counsellors_email", "clients.email", "counsellors.email")
# Keeps these locks apart from the other advisory locks (the attempt counters').
_LOCK_SPACE = b"account-email:"


class SqlEmailAddresses:
    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def hold(self, email: str) -> None:
        """On PostgreSQL an advisory lock on the lower-cased address until commit. SQLite needs
        nothing: a write transaction (BEGIN IMMEDIATE) holds the database's one write lock."""
        if self._conn.dialect.name == "postgresql":
            digest = hashlib.sha256(_LOCK_SPACE + email.lower().encode()).digest()
            await self._conn.execute(
                select(func.pg_advisory_xact_lock(int.from_bytes(digest[:8], signed=True)))
            )


@contextlib.contextmanager
def email_index() -> Iterator[None]:
    """Around a statement writing an account's e-mail: the index refusing it is EmailTaken."""
    try:
        yield
    except IntegrityError as exc:
        if any(name in str(exc.orig) for name in _EMAIL_INDEXES):
            raise EmailTaken() from None
        raise
