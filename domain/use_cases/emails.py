"""One account per e-mail address, clients and counsellors alike, also under parallel writes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from domain.errors import Conflict, EmailTaken
from domain.ports import UnitOfWork

TAKEN = "An account with this e-mail exists."


@contextlib.asynccontextmanager
async def sole_holder(
    uow: UnitOfWork, email: str | None, field: str, client_id: int = 0
) -> AsyncIterator[None]:
    """Around the write that stores `email` for a new account or for the client `client_id`:
    CONFLICT on `field` when another account has it.

    The address is held first, so a parallel write of it waits and then sees this one's outcome;
    the database's unique index, the backstop, is reported alike."""
    if email is not None:
        await uow.emails.hold(email)
        owner = await uow.clients.by_email(email)
        if (owner is not None and owner.id != client_id) or await uow.counsellors.by_email(email):
            raise Conflict(TAKEN, field=field)
    try:
        yield
    except EmailTaken:
        raise Conflict(TAKEN, field=field) from None
