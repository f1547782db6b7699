"""Invitations: a one-time link by mail to set a password, and accepting it (which signs in)."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from domain import validation
from domain.errors import BadUserInput, Conflict, Unauthenticated
from domain.model import AccountKind, InvitationStatus, InvitationToken, OutgoingMail, Role, StaffRole, Viewer
from domain.ports import UnitOfWork
from domain.throttling import count_attempts, counter_key, network_of
from domain.use_cases import Deps, hash_password

INVITATION_DAYS = 7
# Attempts at accepting an invitation per address, in the sign-in window: a token is 32 random
# bytes, so this only keeps a flood of guesses off the database.
ACCEPT_ATTEMPTS_PER_ADDRESS = 20
_UNUSABLE = "This invitation link has expired or was used already; ask for a new invitation."


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256 (a leaked table gives no usable link)."""
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_invitation(
    uow: UnitOfWork, deps: Deps, kind: AccountKind, account_id: int, email: str, name: str
) -> None:
    """A new token for the account (earlier ones stop working) and its mail, in the caller's
    transaction: the invitation and the mail commit together or not at all."""
    token = secrets.token_urlsafe(32)
    now = deps.clock.now()
    expires = now + timedelta(days=INVITATION_DAYS)
    await uow.invitations.replace(InvitationToken(kind, account_id, token_hash(token), now, expires))
    link = f"{deps.public_url.rstrip('/')}/invitation?token={token}"
    body = (
        f"Hallo {name},\n\n"
        "Sie wurden zur Online-Beratung eingeladen. Legen Sie über diesen Link Ihr Passwort fest:\n\n"
        f"{link}\n\n"
        f"Der Link gilt {INVITATION_DAYS} Tage und nur einmal.\n"
    )
    client_id = account_id if kind is AccountKind.CLIENT else None
    await uow.mails.add(OutgoingMail(email, "Ihre Einladung zur Online-Beratung", body, now, client_id))


async def accept_invitation(deps: Deps, token: str, password: str, address: str | None = None) -> Viewer:
    """Set the password of the invited account and sign in. An expired, used or unknown token is
    BAD_USER_INPUT on `token`; of two parallel acceptances of one token exactly one wins."""
    validation.bounded(token, "token", 200)
    validation.bounded(password, "password", validation.MAX_PASSWORD)
    if address:
        key = counter_key(deps, "accept-address", network_of(address))
        limit = deps.limits.login_failures_per_address
        await count_attempts(deps, [(key, limit)], deps.limits.login_window_seconds, "Too many attempts")
    hashed = token_hash(token)
    now = deps.clock.now()
    async with deps.uow(write=False) as uow:
        found = await uow.invitations.find(hashed)
        email = await _email_of(uow, found) if found is not None else None
    if found is None or found.expires_at <= now or email is None:
        raise BadUserInput(_UNUSABLE, field="token")
    new_hash = await hash_password(deps, validation.password(password, "password", email))
    async with deps.uow() as uow:
        if not await uow.invitations.use(hashed, deps.clock.now()):
            raise BadUserInput(_UNUSABLE, field="token")
        viewer = await _set_password(uow, found, new_hash, deps.clock.now())
        await uow.commit()
    return viewer


async def _email_of(uow: UnitOfWork, token: InvitationToken) -> str | None:
    if token.kind is AccountKind.CLIENT:
        client = await uow.clients.get(token.account_id)
        return client.email if client is not None else None
    counsellor = await uow.counsellors.get(token.account_id)
    return counsellor.email if counsellor is not None else None


async def _set_password(uow: UnitOfWork, token: InvitationToken, new_hash: str, now: datetime) -> Viewer:
    if token.kind is AccountKind.CLIENT:
        generation = await uow.clients.accept_invitation(token.account_id, new_hash, now)
        if generation is None:
            raise Unauthenticated("The account is not active.")
        return Viewer(Role.CLIENT, client_id=token.account_id, session_generation=generation)
    generation = await uow.counsellors.accept_invitation(token.account_id, new_hash, now)
    counsellor = await uow.counsellors.get(token.account_id)
    if generation is None or counsellor is None:
        raise Unauthenticated("The account is not active.")
    role = Role.ADMIN if counsellor.role is StaffRole.ADMIN else Role.COUNSELLOR
    return Viewer(role, counsellor_id=counsellor.id, session_generation=generation)


def require_invitable(status: InvitationStatus, field: str = "id") -> None:
    if status is InvitationStatus.REGISTERED:
        raise Conflict("The account has a password already.", field=field)
