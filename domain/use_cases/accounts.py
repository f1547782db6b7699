"""Accounts: sign-in, self-registration, sessions, and the admin from the environment."""

from __future__ import annotations

from datetime import datetime

from domain import validation
from domain.errors import Conflict, Unauthenticated
from domain.model import AccountStatus, Client, InvitationStatus, Role, StaffRole, Viewer
from domain.use_cases import Deps
from domain.use_cases.clients import unused_client_code
from domain.use_cases.counsellors import NewCounsellor, add_counsellor
from domain.use_cases.presence import sign_off

_BAD_LOGIN = "E-mail or password is wrong."
# Verified when no account matches, so that a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH: dict[str, str] = {}


async def login(deps: Deps, email: str, password: str) -> Viewer:
    """The account behind e-mail and password, or one UNAUTHENTICATED error for every failure."""
    address = email.strip().lower()
    async with deps.uow() as uow:
        counsellor = await uow.counsellors.by_email(address)
        if counsellor is not None:
            if deps.hasher.verify(counsellor.password_hash, password) and counsellor.active:
                role = Role.ADMIN if counsellor.role is StaffRole.ADMIN else Role.COUNSELLOR
                return Viewer(role=role, counsellor_id=counsellor.id)
            raise Unauthenticated(_BAD_LOGIN)
        client = await uow.clients.by_email(address)
        if client is not None and client.password_hash is not None:
            if (
                deps.hasher.verify(client.password_hash, password)
                and client.account_status is AccountStatus.ACTIVE
            ):
                client.last_login_at = deps.clock.now()
                await uow.clients.save(client)
                await uow.commit()
                return Viewer(role=Role.CLIENT, client_id=client.id)
            raise Unauthenticated(_BAD_LOGIN)
    _burn_time(deps, password)
    raise Unauthenticated(_BAD_LOGIN)


def _burn_time(deps: Deps, password: str) -> None:
    if "hash" not in _DUMMY_HASH:
        _DUMMY_HASH["hash"] = deps.hasher.hash("not-a-real-password")
    deps.hasher.verify(_DUMMY_HASH["hash"], password)


async def register_client(
    deps: Deps, display_name: str, email: str, password: str, language: str | None
) -> Viewer:
    """Anonymous self-registration: a REGISTERED client with no primary counsellor yet."""
    address = validation.email(email, "input.email")
    now = deps.clock.now()
    client = Client(
        id=0,
        client_code="",
        display_name=validation.text(display_name, "input.displayName", validation.MAX_NAME),
        email=address,
        language=validation.language(language, "input.language"),
        invitation_status=InvitationStatus.REGISTERED,
        password_hash=deps.hasher.hash(validation.password(password, "input.password", address)),
        created_at=now,
        last_login_at=now,
    )
    async with deps.uow() as uow:
        if await uow.clients.by_email(address) or await uow.counsellors.by_email(address):
            raise Conflict("An account with this e-mail exists.", field="input.email")
        client.client_code = await unused_client_code(uow)
        client = await uow.clients.add(client)
        await uow.commit()
    return Viewer(role=Role.CLIENT, client_id=client.id)


async def current_viewer(
    deps: Deps, role: Role, account_id: int, token_id: str, expires_at: datetime
) -> Viewer:
    """The viewer a valid token names, if the account may still act and the token is not revoked."""
    async with deps.uow(write=False) as uow:
        if await uow.tokens.is_revoked(token_id):
            raise Unauthenticated("The token was revoked.")
        if role is Role.CLIENT:
            client = await uow.clients.get(account_id)
            if client is None or client.account_status is not AccountStatus.ACTIVE:
                raise Unauthenticated("The account is not active.")
            return Viewer(role=role, client_id=account_id, token_id=token_id, expires_at=expires_at)
        counsellor = await uow.counsellors.get(account_id)
        if counsellor is None or not counsellor.active:
            raise Unauthenticated("The account is not active.")
        # The role is read from the account, so a demotion takes effect at once.
        actual = Role.ADMIN if counsellor.role is StaffRole.ADMIN else Role.COUNSELLOR
        return Viewer(role=actual, counsellor_id=account_id, token_id=token_id, expires_at=expires_at)


async def logout(deps: Deps, viewer: Viewer) -> bool:
    """Revoke the token the viewer signed in with."""
    if viewer.is_anonymous or viewer.token_id is None or viewer.expires_at is None:
        raise Unauthenticated("Sign in first.")
    async with deps.uow() as uow:
        await uow.tokens.revoke(viewer.token_id, viewer.expires_at)
        await uow.commit()
    if viewer.counsellor_id is not None:
        await sign_off(deps, viewer.counsellor_id)
    return True


async def ensure_admin(deps: Deps, email: str, password: str) -> bool:
    """Create the admin named by the environment when missing; True when created."""
    async with deps.uow(write=False) as uow:
        if await uow.counsellors.by_email(email.strip().lower()) is not None:
            return False
    new = NewCounsellor(email=email, password=password, display_name="Admin", role=StaffRole.ADMIN)
    await add_counsellor(deps, new)
    return True
