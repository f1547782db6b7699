"""Accounts: sign-in, self-registration, sessions, and the admin from the environment."""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from domain import validation
from domain.errors import BadUserInput, Unauthenticated
from domain.events import SessionsEnded
from domain.limits import REGISTRATION_WINDOW_SECONDS
from domain.model import (
    AccountStatus,
    Client,
    Counsellor,
    InvitationStatus,
    Role,
    SessionClaims,
    StaffRole,
    Viewer,
)
from domain.ports import UnitOfWork
from domain.throttling import count_attempts, counter_key, network_of, throttle_of
from domain.use_cases import Deps, hash_password, password_matches
from domain.use_cases.clients import unused_client_code
from domain.use_cases.counsellors import NewCounsellor, add_counsellor
from domain.use_cases.emails import sole_holder
from domain.use_cases.presence import sign_off
from domain.visibility import require_authenticated

AccountT = TypeVar("AccountT", bound=Client | Counsellor)
# Who calls a use case: a viewer checked already, or a token's claims it checks in its own transaction.
Caller = Viewer | SessionClaims
_BAD_LOGIN = "E-mail or password is wrong."
# Told only to whoever knows the password: the account exists and an admin blocked it.
_BLOCKED = "This account is blocked; please contact the counselling service."
# Verified when no account matches, so that a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH: dict[str, str] = {}


def _staff_viewer(counsellor: Counsellor) -> Viewer:
    role = Role.ADMIN if counsellor.role is StaffRole.ADMIN else Role.COUNSELLOR
    return Viewer(role=role, counsellor_id=counsellor.id, session_generation=counsellor.session_generation)


async def login(deps: Deps, email: str, password: str, address: str | None = None) -> Viewer:
    """The account behind e-mail and password, or one UNAUTHENTICATED error for every failure.

    Each attempt is counted per e-mail (existing or not) and per address before the password is
    checked; past a limit sign-in is refused with RATE_LIMITED until the oldest attempt counted
    leaves the window. A successful sign-in uncounts itself and forgives the e-mail's failures.
    An unknown e-mail costs a hash check like a known one.
    """
    # Bounded although not stored: a NUL or lone surrogate would reach the database and the hash.
    email_address = validation.text(email.lower(), "email", validation.MAX_EMAIL, required=False)
    validation.bounded(password, "password", validation.MAX_PASSWORD)
    keys = [(counter_key(deps, "login-account", email_address), deps.limits.login_failures_per_account)]
    if address:
        keys.append(
            (counter_key(deps, "login-address", network_of(address)), deps.limits.login_failures_per_address)
        )
    attempts = await count_attempts(deps, keys, deps.limits.login_window_seconds, "Too many failed sign-ins")
    async with deps.uow(write=False) as uow:
        counsellor = await uow.counsellors.by_email(email_address)
        client = None if counsellor else await uow.clients.by_email(email_address)
    # The hash check runs outside any transaction: it is slow on purpose.
    viewer = await _verified(deps, counsellor, client, password)
    if viewer is None:
        raise Unauthenticated(_BAD_LOGIN)
    if client is not None:
        async with deps.uow() as uow:
            # Erased, deleted or blocked since the read above: the conditional write says so.
            still_active = await uow.clients.record_login(client.id, deps.clock.now())
            now_blocked = not still_active and await _blocked(uow, client.id)
            await uow.commit()
        if now_blocked:
            raise Unauthenticated(_BLOCKED)
        if not still_active:
            raise Unauthenticated(_BAD_LOGIN)
    else:
        async with deps.uow() as uow:
            await uow.counsellors.record_login(viewer.counsellor_id or 0, deps.clock.now())
            await uow.commit()
    throttle = throttle_of(deps)
    await throttle.clear(attempts[0].key)
    for attempt in attempts[1:]:
        await throttle.take_back(attempt)
    return viewer


async def _verified(
    deps: Deps, counsellor: Counsellor | None, client: Client | None, password: str
) -> Viewer | None:
    if counsellor is not None:
        ok = await password_matches(deps, counsellor.password_hash, password) and counsellor.active
        return _staff_viewer(counsellor) if ok else None
    if client is not None and client.password_hash is not None:
        ok = await password_matches(deps, client.password_hash, password)
        if ok and client.account_status is AccountStatus.BLOCKED:
            raise Unauthenticated(_BLOCKED)
        ok = ok and client.account_status is AccountStatus.ACTIVE
        return (
            Viewer(role=Role.CLIENT, client_id=client.id, session_generation=client.session_generation)
            if ok
            else None
        )
    await _burn_time(deps, password)
    return None


async def _blocked(uow: UnitOfWork, client_id: int) -> bool:
    found = await uow.clients.get(client_id)
    return found is not None and found.account_status is AccountStatus.BLOCKED


async def _burn_time(deps: Deps, password: str) -> None:
    if "hash" not in _DUMMY_HASH:
        _DUMMY_HASH["hash"] = await hash_password(deps, "not-a-real-password")
    await password_matches(deps, _DUMMY_HASH["hash"], password)


async def register_client(
    deps: Deps, display_name: str, email: str, password: str, language: str | None, origin: str | None = None
) -> Viewer:
    """Anonymous self-registration: a REGISTERED client with no primary counsellor yet.

    `origin` is the caller's network address: registrations per address and hour are limited.
    """
    address = validation.email(email, "input.email")
    name = validation.text(display_name, "input.displayName", validation.MAX_NAME)
    chosen_language = validation.language(language, "input.language")
    password = validation.password(password, "input.password", address)
    if origin:
        # Counted before hashing and kept when the e-mail turns out taken: CONFLICT tells
        # whether an account exists, so those answers are limited too.
        key = counter_key(deps, "register-address", network_of(origin))
        limit = (key, deps.limits.registrations_per_address_per_hour)
        refusal = "Too many registrations from this address"
        await count_attempts(deps, [limit], REGISTRATION_WINDOW_SECONDS, refusal)
    now = deps.clock.now()
    client = Client(
        id=0,
        client_code="",
        display_name=name,
        email=address,
        language=chosen_language,
        invitation_status=InvitationStatus.REGISTERED,
        password_hash=await hash_password(deps, password),
        created_at=now,
        last_login_at=now,
    )
    async with deps.uow() as uow, sole_holder(uow, address, "input.email"):
        client.client_code = await unused_client_code(uow)
        client = await uow.clients.add(client)
        await uow.commit()
    return Viewer(role=Role.CLIENT, client_id=client.id)


async def current_viewer(deps: Deps, claims: SessionClaims) -> Viewer:
    """The viewer a valid token names, checked in a transaction of its own (see viewer_in)."""
    async with deps.uow(write=False) as uow:
        return await viewer_in(uow, claims)


async def viewer_in(uow: UnitOfWork, caller: Caller) -> Viewer:
    """The viewer behind `caller`, checked in the caller's transaction: a token's claims name a
    viewer if the account may still act, the token is not revoked and no password change or
    deactivation ended its sessions since it was issued. A Viewer was checked already."""
    if isinstance(caller, Viewer):
        return caller
    is_client = caller.role is Role.CLIENT
    account, revoked = await uow.tokens.session(is_client, caller.account_id, caller.token_id)
    account = check_session(account, revoked, caller.generation)
    if isinstance(account, Client):
        viewer = Viewer(
            caller.role, client_id=caller.account_id, session_generation=account.session_generation
        )
    else:
        # The role is read from the account, so a demotion takes effect at once.
        viewer = _staff_viewer(account)
    return replace(viewer, token_id=caller.token_id, expires_at=caller.expires_at)


def check_session(account: AccountT | None, revoked: bool, generation: int) -> AccountT:
    """The account a token names, if it may still act with that token: not revoked, the account
    active, and no password change or deactivation since the token was issued."""
    if revoked:
        raise Unauthenticated("The token was revoked.")
    if account is None or not _may_act(account):
        blocked = isinstance(account, Client) and account.account_status is AccountStatus.BLOCKED
        raise Unauthenticated(_BLOCKED if blocked else "The account is not active.")
    if account.session_generation != generation:
        raise Unauthenticated("The session has ended; sign in again.")
    return account


def _may_act(account: Counsellor | Client | None) -> bool:
    if isinstance(account, Client):
        return account.account_status is AccountStatus.ACTIVE
    return account is not None and account.active


async def _account(uow: UnitOfWork, viewer: Viewer) -> Counsellor | Client | None:
    if viewer.counsellor_id is not None:
        return await uow.counsellors.get(viewer.counsellor_id)
    return await uow.clients.get(viewer.client_id or 0)


async def change_password(deps: Deps, viewer: Viewer, current: str, new: str) -> Viewer:
    """Change the viewer's password; every session of the account ends (the caller gets a new one)."""
    require_authenticated(viewer)
    validation.bounded(current, "currentPassword", validation.MAX_PASSWORD)
    async with deps.uow(write=False) as uow:
        account = await _account(uow, viewer)
    if account is None or not _may_act(account):
        raise Unauthenticated("The account is not active.")
    # Hashing happens outside the write transaction: it is slow on purpose.
    if not account.password_hash or not await password_matches(deps, account.password_hash, current):
        raise BadUserInput("The current password is wrong.", field="currentPassword")
    if new == current:
        raise BadUserInput("The new password must differ from the current one.", field="newPassword")
    new_hash = await hash_password(deps, validation.password(new, "newPassword", account.email))
    async with deps.uow() as uow:
        # Conditional: an erasure, deactivation or other password change since the check wins.
        if isinstance(account, Counsellor):
            generation = await uow.counsellors.replace_password(account.id, account.password_hash, new_hash)
        else:
            generation = await uow.clients.replace_password(account.id, account.password_hash, new_hash)
        if generation is None:
            raise Unauthenticated("The session has ended; sign in again.")
        uow.record(SessionsEnded(viewer.counsellor_id, viewer.client_id))
        await uow.commit()
    return Viewer(viewer.role, viewer.counsellor_id, viewer.client_id, session_generation=generation)


async def logout(deps: Deps, viewer: Viewer) -> bool:
    """Revoke the token the viewer signed in with."""
    if viewer.is_anonymous or viewer.token_id is None or viewer.expires_at is None:
        raise Unauthenticated("Sign in first.")
    async with deps.uow() as uow:
        await uow.tokens.revoke(viewer.token_id, viewer.expires_at)
        # Only this session's subscriptions close; the account's other sessions go on.
        uow.record(SessionsEnded(viewer.counsellor_id, viewer.client_id, viewer.token_id))
        await uow.commit()
    if viewer.counsellor_id is not None:
        await sign_off(deps, viewer.counsellor_id)
    return True


async def staff_exists(deps: Deps) -> bool:
    """Whether anyone can sign in as staff: a start without staff says how to create the first admin."""
    async with deps.uow(write=False) as uow:
        return bool(await uow.counsellors.filtered(None, None))


async def ensure_admin(deps: Deps, email: str, password: str) -> bool:
    """Create the admin named by the environment when missing; True when created."""
    async with deps.uow(write=False) as uow:
        if await uow.counsellors.by_email(email.strip().lower()) is not None:
            return False
    new = NewCounsellor(email=email, password=password, display_name="Admin", role=StaffRole.ADMIN)
    await add_counsellor(deps, new)
    return True
