"""A small demo data set for a new database (STAMM_DEMO=1), with its logins printed."""

from __future__ import annotations

from domain.model import MailAvailability, Role, StaffRole, Viewer
from domain.use_cases import Deps
from domain.use_cases.clients import ClientProfile, create_client
from domain.use_cases.counsellors import (
    NewCounsellor,
    add_counsellor,
    set_mail_availability,
)

DEMO_PASSWORD = "demo-password-1"
DEMO_ADMIN = "admin@demo.stamm"
DEMO_COUNSELLORS = (("anna@demo.stamm", "Anna Berger"), ("ben@demo.stamm", "Ben Okafor"))


async def seed_demo(deps: Deps) -> list[str] | None:
    """Seed a new, empty database; the logins to print, or None if it held data already.

    The counsellors start OFFLINE: seeded ONLINE, they would take the README walk-through's first
    chat until their presence lapsed a minute later, so that the walk-through depended on timing.
    """
    async with deps.uow(write=False) as uow:
        if await uow.counsellors.filtered(None, None):
            return None
    admin = await add_counsellor(
        deps, NewCounsellor(DEMO_ADMIN, DEMO_PASSWORD, "Demo Admin", role=StaffRole.ADMIN)
    )
    as_admin = Viewer(role=Role.ADMIN, counsellor_id=admin.id)
    for email, name in DEMO_COUNSELLORS:
        first, last = name.split()
        counsellor = await add_counsellor(
            deps, NewCounsellor(email, DEMO_PASSWORD, name, first, last, chat_capacity=2)
        )
        await set_mail_availability(deps, as_admin, MailAvailability.BY_FREE_RESOURCES, 5, counsellor.id)
        await create_client(
            deps, as_admin, ClientProfile(display_name=f"Klient:in von {first}"), counsellor.id
        )
    logins = [DEMO_ADMIN] + [email for email, _ in DEMO_COUNSELLORS]
    return [f"{email} / {DEMO_PASSWORD}" for email in logins]
