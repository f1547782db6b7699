"""Clients: create, profile, invitation, the primary counsellor by hand, and reads."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from domain import validation
from domain.errors import BadUserInput, Conflict
from domain.model import (
    AccountKind,
    AccountStatus,
    AssignmentSource,
    Client,
    InvitationStatus,
    Viewer,
)
from domain.ports import UnitOfWork
from domain.use_cases import Deps, audit
from domain.use_cases.emails import sole_holder
from domain.use_cases.invitations import issue_invitation
from domain.use_cases.routing import make_primary
from domain.visibility import (
    not_found,
    require_admin,
    require_authenticated,
    require_change_primary,
    require_staff,
    sees_client,
)

CODE_ALPHABET = string.ascii_uppercase + string.digits
CODE_LENGTH = 6


@dataclass(frozen=True)
class ClientProfile:
    """Profile fields as given; None leaves a field as it is (on update)."""

    display_name: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    language: str | None = None


def new_client_code() -> str:
    """Six characters A-Z and 0-9, from a cryptographic source (codes are not guessable)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


async def unused_client_code(uow: UnitOfWork) -> str:
    for _ in range(20):
        code = new_client_code()
        if not await uow.clients.code_taken(code):
            return code
    raise RuntimeError("no free client code after 20 tries")


def apply_profile(client: Client, profile: ClientProfile) -> None:
    """Validate and copy the stated profile fields onto `client`."""
    if profile.display_name is not None:
        client.display_name = validation.text(profile.display_name, "input.displayName", validation.MAX_NAME)
    if profile.email is not None:
        client.email = validation.optional_email(profile.email, "input.email")
    if profile.first_name is not None:
        client.first_name = validation.optional_text(profile.first_name, "input.firstName")
    if profile.last_name is not None:
        client.last_name = validation.optional_text(profile.last_name, "input.lastName")
    if profile.phone is not None:
        client.phone = validation.phone(profile.phone, "input.phone")
    if profile.language is not None:
        client.language = validation.language(profile.language, "input.language")


async def create_client(
    deps: Deps, viewer: Viewer, profile: ClientProfile, primary_counsellor_id: int | None
) -> Client:
    """Staff create a client; a counsellor becomes its primary unless they name another."""
    me = require_staff(viewer)
    if profile.display_name is None:
        raise BadUserInput("input.displayName must not be empty.", field="input.displayName")
    if primary_counsellor_id is None and not viewer.is_admin:
        primary_counsellor_id = me
    now = deps.clock.now()
    client = Client(id=0, client_code="", display_name="", created_at=now)
    apply_profile(client, profile)
    async with deps.uow() as uow:
        if primary_counsellor_id is not None:
            await _active_counsellor(uow, primary_counsellor_id, "input.primaryCounsellorId")
        client.client_code = await unused_client_code(uow)
        async with sole_holder(uow, client.email, "input.email"):
            client = await uow.clients.add(client)
        if primary_counsellor_id is not None:
            await make_primary(
                uow, client, primary_counsellor_id, AssignmentSource.MANUAL, now, changed_by_id=me
            )
        await uow.commit()
    return client


async def _active_counsellor(uow: UnitOfWork, counsellor_id: int, field: str) -> None:
    counsellor = await uow.counsellors.get(counsellor_id)
    if counsellor is None or not counsellor.active:
        raise BadUserInput("The counsellor must be an active counsellor.", field=field)


async def visible_client(
    uow: UnitOfWork, viewer: Viewer, client_id: int, field: str = "id", *, lock: bool = False
) -> Client:
    """The client if the viewer may see them, else NOT_FOUND; with `lock`, held until commit."""
    client = await (uow.clients.lock(client_id) if lock else uow.clients.get(client_id))
    if client is None:
        raise not_found("Client", field)
    holders = await uow.clients.holder_ids(client_id) if viewer.is_staff and not viewer.is_admin else set()
    if not sees_client(viewer, client, holders):
        raise not_found("Client", field)
    return client


async def get_client(deps: Deps, viewer: Viewer, client_id: int) -> Client:
    """One client's profile; an admin reading another counsellor's client is audited."""
    async with deps.uow(write=False) as uow:
        client = await visible_client(uow, viewer, client_id)
    if viewer.is_admin and client.primary_counsellor_id not in (None, viewer.counsellor_id):
        async with deps.uow() as uow:
            await audit.record(uow, deps, viewer, "CLIENT_READ", "Client", client.id)
            await uow.commit()
    return client


async def update_client_profile(deps: Deps, viewer: Viewer, client_id: int, profile: ClientProfile) -> Client:
    """Staff who see the client, or the client themselves, change the profile."""
    require_authenticated(viewer)
    async with deps.uow() as uow:
        client = await _unerased_client(uow, viewer, client_id, "input.id")
        apply_profile(client, profile)
        # Only an address being set is held: other profile edits wait for nobody.
        changed = client.email if profile.email is not None else None
        async with sole_holder(uow, changed, "input.email", client.id):
            await uow.clients.save_profile(client)
        await uow.commit()
    return client


async def _unerased_client(uow: UnitOfWork, viewer: Viewer, client_id: int, field: str) -> Client:
    """The visible client, locked until commit; CONFLICT once their data was erased (nothing
    personal may be written back)."""
    client = await visible_client(uow, viewer, client_id, field, lock=True)
    if client.erased_at is not None:
        raise Conflict("This client's data was erased.", field=field)
    return client


async def invite_client(deps: Deps, viewer: Viewer, client_id: int) -> Client:
    """Mark the client INVITED and queue a mail with a one-time link to set a password (in the
    same transaction); inviting again replaces the link."""
    require_staff(viewer)
    async with deps.uow() as uow:
        client = await _unerased_client(uow, viewer, client_id, "id")
        if client.email is None:
            raise BadUserInput("The client needs an e-mail address to be invited.", field="id")
        if client.invitation_status is InvitationStatus.REGISTERED:
            raise Conflict("The client has registered already.", field="id")
        if client.account_status is not AccountStatus.ACTIVE:
            raise Conflict(f"The client is {client.account_status.value}.", field="id")
        client.invitation_status = InvitationStatus.INVITED
        await uow.clients.set_invitation_status(client.id, client.invitation_status)
        await issue_invitation(uow, deps, AccountKind.CLIENT, client.id, client.email, client.display_name)
        await uow.commit()
    return client


async def change_primary_counsellor(
    deps: Deps, viewer: Viewer, client_id: int, counsellor_id: int | None, reason: str | None
) -> Client:
    """Set or remove (None) a client's primary by hand, with a history entry."""
    me = require_staff(viewer)
    reason = validation.optional_text(reason, "input.reason", validation.MAX_REASON)
    async with deps.uow() as uow:
        client = await uow.clients.lock(client_id)
        holders = await uow.clients.holder_ids(client_id) if client else set()
        require_change_primary(viewer, client is not None and sees_client(viewer, client, holders))
        assert client is not None
        if client.erased_at is not None:  # the erasure removed the primary; nothing brings one back
            raise Conflict("This client's data was erased.", field="input.clientId")
        if counsellor_id is not None:
            await _active_counsellor(uow, counsellor_id, "input.counsellorId")
        now = deps.clock.now()
        change = await make_primary(uow, client, counsellor_id, AssignmentSource.MANUAL, now, me, reason)
        if change is None:
            return client
        detail = f"from {change.previous_counsellor_id} to {change.new_counsellor_id}"
        await audit.record(uow, deps, viewer, "PRIMARY_CHANGED", "Client", client.id, detail)
        await uow.commit()
    await deps.dispatch()
    return client


async def reassign_clients(deps: Deps, viewer: Viewer, from_id: int, to_id: int, reason: str | None) -> int:
    """Admins move every client of one primary to another in one transaction, a history entry each."""
    me = require_admin(viewer)
    reason = validation.optional_text(reason, "input.reason", validation.MAX_REASON)
    if from_id == to_id:
        raise BadUserInput("Choose another counsellor to move the clients to.", field="input.toCounsellorId")
    async with deps.uow() as uow:
        if await uow.counsellors.get(from_id) is None:
            raise not_found("Counsellor", "input.fromCounsellorId")
        await _active_counsellor(uow, to_id, "input.toCounsellorId")
        moving = await uow.clients.primary_of(from_id)
        now = deps.clock.now()
        for client in moving:
            await make_primary(uow, client, to_id, AssignmentSource.MANUAL, now, me, reason)
            await audit.record(
                uow, deps, viewer, "PRIMARY_CHANGED", "Client", client.id, f"from {from_id} to {to_id}"
            )
        await uow.commit()
    await deps.dispatch()
    return len(moving)
