"""Member management use cases over the fakes: invitations, accepting them (throttled), blocking,
deletion and the sweep's erasure, the last admin."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from domain.errors import BadUserInput, Conflict, Forbidden, RateLimited, Unauthenticated
from domain.events import SessionsEnded
from domain.model import AccountStatus, InvitationStatus, Role, StaffRole, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import login
from domain.use_cases.clients import invite_client
from domain.use_cases.counsellors import CounsellorUpdate, update_counsellor
from domain.use_cases.invitations import accept_invitation, token_hash
from domain.use_cases.members import block_client, delete_client, restore_client
from domain.use_cases.privacy import erase_due_clients
from tests.fakes import FakeUnitOfWorkFactory, FixedClock

PASSWORD = "password-123"


def admin_of(factory: FakeUnitOfWorkFactory) -> Viewer:
    admin = factory.seed_counsellor(role=StaffRole.ADMIN, password_hash=f"plain:{PASSWORD}")
    return Viewer(role=Role.ADMIN, counsellor_id=admin.id)


def mailed_token(factory: FakeUnitOfWorkFactory) -> str:
    found = re.search(r"token=([A-Za-z0-9_-]+)", factory.store.mails[-1].body)
    assert found
    return found.group(1)


async def test_an_invitation_stores_only_the_tokens_hash_and_mails_the_link(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    admin = admin_of(factory)
    client = factory.seed_client(email="ina@example.org")
    invited = await invite_client(deps, admin, client.id)
    token = mailed_token(factory)
    assert invited.invitation_status is InvitationStatus.INVITED
    assert list(factory.store.tokens) == [token_hash(token)] and token not in str(factory.store.tokens)
    assert factory.store.mails[-1].recipient == "ina@example.org"
    assert factory.store.mails[-1].body.count(f"{deps.public_url}/invitation?token={token}") == 1


async def test_accepting_signs_in_and_a_second_use_is_refused(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    admin = admin_of(factory)
    client = factory.seed_client(email="ina@example.org")
    await invite_client(deps, admin, client.id)
    token = mailed_token(factory)
    viewer = await accept_invitation(deps, token, "ina-password-1")
    assert viewer.client_id == client.id and viewer.session_generation == 1
    assert factory.client(client.id).invitation_status is InvitationStatus.REGISTERED
    with pytest.raises(BadUserInput) as again:
        await accept_invitation(deps, token, "ina-password-2")
    assert again.value.field == "token"


async def test_accepting_is_throttled_per_address(deps: Deps, factory: FakeUnitOfWorkFactory) -> None:
    deps.limits = replace(deps.limits, login_failures_per_address=3)
    for _ in range(3):
        with pytest.raises(BadUserInput):
            await accept_invitation(deps, "guessed", PASSWORD, "203.0.113.9")
    with pytest.raises(RateLimited):
        await accept_invitation(deps, "guessed", PASSWORD, "203.0.113.9")


async def test_only_admins_block_and_a_blocked_client_is_told_so_only_with_the_right_password(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    admin = admin_of(factory)
    client = factory.seed_client(email="kim@example.org", password_hash=f"plain:{PASSWORD}")
    counsellor = factory.seed_counsellor()
    with pytest.raises(Forbidden):
        await block_client(deps, Viewer(Role.COUNSELLOR, counsellor_id=counsellor.id), client.id)
    await block_client(deps, admin, client.id)
    assert SessionsEnded(client_id=client.id) in factory.published
    with pytest.raises(Unauthenticated, match="blocked"):
        await login(deps, "kim@example.org", PASSWORD)
    with pytest.raises(Unauthenticated, match="wrong"):
        await login(deps, "kim@example.org", "not-the-password")


async def test_the_sweep_erases_a_deleted_client_only_after_the_grace_period(
    deps: Deps, factory: FakeUnitOfWorkFactory, clock: FixedClock
) -> None:
    admin = admin_of(factory)
    client = factory.seed_client(email="kim@example.org")
    deps.deletion_grace_days = 2
    await delete_client(deps, admin, client.id)
    clock.advance(timedelta(days=2).total_seconds() - 1)
    assert await erase_due_clients(deps) == 0
    clock.advance(1)
    assert await erase_due_clients(deps) == 1
    erased = factory.client(client.id)
    assert erased.erased_at == clock.now() and erased.email is None and erased.deleted_at is None
    assert erased.account_status is AccountStatus.DELETED
    with pytest.raises(Conflict):
        await restore_client(deps, admin, client.id)


async def test_an_admin_cannot_demote_the_last_active_admin(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    admin = admin_of(factory)
    other = factory.seed_counsellor(role=StaffRole.ADMIN, active=False)
    with pytest.raises(BadUserInput):  # themselves: refused as before
        await update_counsellor(
            deps, admin, CounsellorUpdate(admin.counsellor_id or 0, role=StaffRole.COUNSELLOR)
        )
    # As after a race: the second admin acts while their own account was deactivated meanwhile.
    second = Viewer(Role.ADMIN, counsellor_id=other.id)
    with pytest.raises(Conflict, match="last active admin"):
        await update_counsellor(deps, second, CounsellorUpdate(admin.counsellor_id or 0, active=False))
