"""Counsellors: accounts, presence, capacities, absence, and the fallback counsellor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from domain import validation
from domain.errors import BadUserInput, Conflict
from domain.events import CounsellorStateChanged, Event, SessionsEnded, SettingsChanged
from domain.model import (
    AccountKind,
    Counsellor,
    InvitationStatus,
    MailAvailability,
    OnlineStatus,
    Settings,
    StaffRole,
    Viewer,
)
from domain.ports import Page, StaffQuery, UnitOfWork
from domain.use_cases import Deps, hash_password
from domain.use_cases.emails import sole_holder
from domain.use_cases.invitations import issue_invitation, require_invitable
from domain.visibility import (
    acting_counsellor,
    not_found,
    require_admin,
    require_staff,
    sees_counsellor,
)


@dataclass(frozen=True)
class NewCounsellor:
    email: str
    # None: the counsellor is invited by mail to set one (no admin types a colleague's password).
    password: str | None
    display_name: str
    first_name: str | None = None
    last_name: str | None = None
    role: StaffRole | None = None
    chat_capacity: int | None = None
    mail_availability: MailAvailability | None = None
    mail_resources: int | None = None


@dataclass(frozen=True)
class CounsellorUpdate:
    id: int
    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    role: StaffRole | None = None
    active: bool | None = None
    only_own_clients: bool | None = None


async def create_counsellor(deps: Deps, viewer: Viewer, new: NewCounsellor) -> Counsellor:
    """Admins create counsellors; they start OFFLINE, 1 chat slot, mail NONE (routing.md)."""
    require_admin(viewer)
    counsellor = await add_counsellor(deps, new, "input.")
    if counsellor.mail_availability is not MailAvailability.NONE:
        await deps.dispatch()  # free for mail right away
    return counsellor


async def add_counsellor(deps: Deps, new: NewCounsellor, prefix: str = "") -> Counsellor:
    """Validate and store a new counsellor (also used for the admin from the environment)."""
    email = validation.email(new.email, f"{prefix}email")
    if new.password is not None:
        validation.password(new.password, f"{prefix}password", email)
    counsellor = Counsellor(
        id=0,
        email=email,
        display_name=validation.text(new.display_name, f"{prefix}displayName", validation.MAX_NAME),
        first_name=validation.optional_text(new.first_name, f"{prefix}firstName"),
        last_name=validation.optional_text(new.last_name, f"{prefix}lastName"),
        role=new.role or StaffRole.COUNSELLOR,
        created_at=deps.clock.now(),
        password_hash=await hash_password(deps, new.password) if new.password is not None else "",
        invitation_status=InvitationStatus.REGISTERED
        if new.password is not None
        else InvitationStatus.INVITED,
        chat_capacity=validation.whole_number(
            1 if new.chat_capacity is None else new.chat_capacity,
            f"{prefix}chatCapacity",
            validation.MAX_CHAT_CAPACITY,
        ),
        mail_availability=new.mail_availability or MailAvailability.NONE,
        mail_resources=validation.whole_number(
            new.mail_resources or 0, f"{prefix}mailResources", validation.MAX_MAIL_RESOURCES
        ),
    )
    async with deps.uow() as uow:
        async with sole_holder(uow, email, f"{prefix}email"):
            counsellor = await uow.counsellors.add(counsellor)
        if new.password is None:
            kind = AccountKind.COUNSELLOR
            await issue_invitation(uow, deps, kind, counsellor.id, email, counsellor.display_name)
        uow.record(CounsellorStateChanged(counsellor))
        await uow.commit()
    return counsellor


async def update_counsellor(deps: Deps, viewer: Viewer, update: CounsellorUpdate) -> Counsellor:
    """Admins change a counsellor's profile, role, activity and `onlyOwnClients`."""
    require_admin(viewer)
    if update.id == viewer.counsellor_id and (update.active is False or update.role is StaffRole.COUNSELLOR):
        raise BadUserInput("Admins cannot deactivate or demote themselves.", field="input.id")

    def change(c: Counsellor) -> None:
        if update.display_name is not None:
            c.display_name = validation.text(update.display_name, "input.displayName", validation.MAX_NAME)
        if update.first_name is not None:
            c.first_name = validation.optional_text(update.first_name, "input.firstName")
        if update.last_name is not None:
            c.last_name = validation.optional_text(update.last_name, "input.lastName")
        if update.role is not None:
            c.role = update.role
        if update.active is not None:
            if c.active and not update.active:
                c.session_generation += 1  # deactivation ends every session at once
            c.active = update.active
        if update.only_own_clients is not None:
            c.only_own_clients = update.only_own_clients

    ended = SessionsEnded(counsellor_id=update.id) if update.active is False else None
    steps_down = update.active is False or update.role is StaffRole.COUNSELLOR
    guard = _keep_an_admin(update.id) if steps_down else None
    return await _change_counsellor(deps, update.id, change, "input.id", also=ended, guard=guard)


def _keep_an_admin(counsellor_id: int) -> Callable[[UnitOfWork], Awaitable[None]]:
    """Refuse to demote or deactivate the last active admin. The active admins' rows are locked
    first, so two admins demoting each other at once are serial and the second is refused."""

    async def guard(uow: UnitOfWork) -> None:
        admins = await uow.counsellors.lock_active_admins()
        if admins == [counsellor_id]:
            raise Conflict("The last active admin cannot be demoted or deactivated.", field="input.id")

    return guard


async def invite_counsellor(deps: Deps, viewer: Viewer, counsellor_id: int) -> Counsellor:
    """Admins (re)send a counsellor's invitation; the earlier link stops working."""
    require_admin(viewer)
    async with deps.uow() as uow:
        counsellor = await uow.counsellors.lock(counsellor_id)
        if counsellor is None:
            raise not_found("Counsellor")
        require_invitable(counsellor.invitation_status)
        if not counsellor.active:
            raise Conflict("The counsellor is inactive.", field="id")
        name = counsellor.display_name
        await issue_invitation(uow, deps, AccountKind.COUNSELLOR, counsellor.id, counsellor.email, name)
        await uow.commit()
    return counsellor


async def staff_page(
    deps: Deps, viewer: Viewer, query: StaffQuery, first: int, after: str | None
) -> Page[Counsellor]:
    """Staff: counsellors and admins by display name (Beratendenverwaltung)."""
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        return await uow.counsellors.staff_page(query, first, after)


async def _change_counsellor(
    deps: Deps,
    counsellor_id: int,
    change: Callable[[Counsellor], None],
    field: str,
    *,
    seen: bool = False,
    also: Event | None = None,
    guard: Callable[[UnitOfWork], Awaitable[None]] | None = None,
) -> Counsellor:
    """Apply `change` in one transaction, publish the new state, then dispatch the queue.

    `seen`: the change is also a sign of life of the counsellor's session.
    """
    async with deps.uow() as uow:
        if guard is not None:
            await guard(uow)
        counsellor = await uow.counsellors.lock(counsellor_id)
        if counsellor is None:
            raise not_found("Counsellor", field)
        change(counsellor)
        if seen:
            counsellor.last_seen_at = deps.clock.now()
            await uow.counsellors.touch([counsellor_id], counsellor.last_seen_at)
        await uow.counsellors.save(counsellor)
        if not counsellor.eligible:
            await uow.requests.stop_waiting_for(counsellor_id)
        uow.record(CounsellorStateChanged(counsellor))
        if also is not None:
            uow.record(also)
        await uow.commit()
    await deps.dispatch()
    return counsellor


async def set_online_status(
    deps: Deps, viewer: Viewer, status: OnlineStatus, counsellor_id: int | None
) -> Counsellor:
    target = acting_counsellor(viewer, counsellor_id)

    def change(c: Counsellor) -> None:
        c.online_status = status

    return await _change_counsellor(
        deps, target, change, "counsellorId", seen=status is not OnlineStatus.OFFLINE
    )


async def set_chat_capacity(
    deps: Deps, viewer: Viewer, capacity: int, counsellor_id: int | None
) -> Counsellor:
    target = acting_counsellor(viewer, counsellor_id)
    capacity = validation.whole_number(capacity, "capacity", validation.MAX_CHAT_CAPACITY)

    def change(c: Counsellor) -> None:
        c.chat_capacity = capacity

    return await _change_counsellor(deps, target, change, "counsellorId")


async def set_mail_availability(
    deps: Deps, viewer: Viewer, mode: MailAvailability, resources: int | None, counsellor_id: int | None
) -> Counsellor:
    """UNLIMITED, NONE, or BY_FREE_RESOURCES with N (N is kept when the mode changes)."""
    target = acting_counsellor(viewer, counsellor_id)
    if resources is not None:
        resources = validation.whole_number(resources, "input.resources", validation.MAX_MAIL_RESOURCES)

    def change(c: Counsellor) -> None:
        if mode is MailAvailability.BY_FREE_RESOURCES and resources is None and c.mail_resources == 0:
            raise BadUserInput("BY_FREE_RESOURCES needs resources.", field="input.resources")
        c.mail_availability = mode
        if resources is not None:
            c.mail_resources = resources

    return await _change_counsellor(deps, target, change, "input.counsellorId")


async def set_absence(
    deps: Deps, viewer: Viewer, absent: bool, message: str | None, counsellor_id: int | None
) -> Counsellor:
    """Absent counsellors are never routed to; their message is shown to clients."""
    target = acting_counsellor(viewer, counsellor_id)
    message = validation.optional_text(message, "input.message", validation.MAX_REASON)

    def change(c: Counsellor) -> None:
        c.absent = absent
        c.absence_message = message if absent else None

    return await _change_counsellor(deps, target, change, "input.counsellorId")


async def set_fallback_counsellor(deps: Deps, viewer: Viewer, counsellor_id: int | None) -> Settings:
    """Admins name the counsellor who takes mail when nobody else can (None clears it)."""
    require_admin(viewer)
    async with deps.uow() as uow:
        if counsellor_id is not None:
            fallback = await uow.counsellors.get(counsellor_id)
            if fallback is None or not fallback.active:
                raise BadUserInput(
                    "The fallback counsellor must be an active counsellor.", field="counsellorId"
                )
        settings = await uow.settings.lock()
        settings.fallback_counsellor_id = counsellor_id
        await uow.settings.save(settings)
        uow.record(SettingsChanged(settings))
        await uow.commit()
    await deps.dispatch()
    return settings


UNCHANGED = object()
MAX_WAIT_SECONDS = 3_600


@dataclass(frozen=True)
class SettingsUpdate:
    """Fields left as UNCHANGED keep their value; accept_timeout_seconds None switches it off."""

    primary_chat_wait_seconds: int | None = None
    presence_timeout_seconds: int | None = None
    accept_timeout_seconds: int | object | None = UNCHANGED
    fallback_counsellor_id: int | object | None = UNCHANGED


async def update_settings(deps: Deps, viewer: Viewer, update: SettingsUpdate) -> Settings:
    """Admins change the routing settings; a shorter wait or a new fallback may move queued requests."""
    require_admin(viewer)
    async with deps.uow() as uow:
        settings = await uow.settings.lock()
        if update.primary_chat_wait_seconds is not None:
            settings.primary_chat_wait_seconds = validation.whole_number(
                update.primary_chat_wait_seconds, "input.primaryChatWaitSeconds", MAX_WAIT_SECONDS
            )
        if update.presence_timeout_seconds is not None:
            seconds = validation.whole_number(
                update.presence_timeout_seconds, "input.presenceTimeoutSeconds", 86_400
            )
            if seconds < 1:
                raise BadUserInput(
                    "presenceTimeoutSeconds must be at least 1.", field="input.presenceTimeoutSeconds"
                )
            settings.presence_timeout_seconds = seconds
        if update.accept_timeout_seconds is not UNCHANGED:
            timeout = update.accept_timeout_seconds
            if timeout is not None:
                assert isinstance(timeout, int)
                if timeout < 1:
                    raise BadUserInput(
                        "acceptTimeoutSeconds must be at least 1.", field="input.acceptTimeoutSeconds"
                    )
                validation.whole_number(timeout, "input.acceptTimeoutSeconds", MAX_WAIT_SECONDS)
            settings.accept_timeout_seconds = timeout
        if update.fallback_counsellor_id is not UNCHANGED:
            fallback_id = update.fallback_counsellor_id
            assert fallback_id is None or isinstance(fallback_id, int)
            await _check_fallback(uow, fallback_id, "input.fallbackCounsellorId")
            settings.fallback_counsellor_id = fallback_id
        await uow.settings.save(settings)
        uow.record(SettingsChanged(settings))
        await uow.commit()
    await deps.dispatch()
    return settings


async def _check_fallback(uow: UnitOfWork, counsellor_id: int | None, field: str) -> None:
    if counsellor_id is None:
        return
    fallback = await uow.counsellors.get(counsellor_id)
    if fallback is None or not fallback.active:
        raise BadUserInput("The fallback counsellor must be an active counsellor.", field=field)


async def get_settings(deps: Deps, viewer: Viewer) -> Settings:
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        return await uow.settings.get()


async def visible_counsellor(uow: UnitOfWork, viewer: Viewer, counsellor_id: int) -> Counsellor:
    """The counsellor if the viewer may see them (staff: all; clients: those on their requests)."""
    counsellor = await uow.counsellors.get(counsellor_id)
    related: set[int] = set()
    if viewer.is_client and viewer.client_id is not None:
        related = await uow.clients.related_counsellor_ids(viewer.client_id)
    if counsellor is None or not sees_counsellor(viewer, counsellor_id, related):
        raise not_found("Counsellor")
    return counsellor


async def get_counsellor(deps: Deps, viewer: Viewer, counsellor_id: int) -> Counsellor:
    async with deps.uow(write=False) as uow:
        return await visible_counsellor(uow, viewer, counsellor_id)


async def list_counsellors(
    deps: Deps, viewer: Viewer, online_status: OnlineStatus | None, active: bool | None
) -> list[Counsellor]:
    """Staff: counsellors by display name."""
    require_staff(viewer)
    async with deps.uow(write=False) as uow:
        return await uow.counsellors.filtered(online_status, active)
