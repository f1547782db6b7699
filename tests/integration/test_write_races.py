"""Writes that race (issue 8): each pair runs at once, round after round, and the final row is asserted.

The races are real on PostgreSQL (READ COMMITTED, row locks). SQLite's single writer serialises
write transactions, yet a snapshot read in one transaction and written in another loses there too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import replace

import pytest

from domain.errors import BadUserInput, Conflict, DomainError, Unauthenticated
from domain.model import AccountStatus, Counsellor, InvitationStatus, OnlineStatus, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import change_password, login
from domain.use_cases.clients import ClientProfile, create_client, invite_client, update_client_profile
from domain.use_cases.counsellors import CounsellorUpdate, set_absence, set_chat_capacity, update_counsellor
from domain.use_cases.presence import sign_off
from domain.use_cases.privacy import erase_client
from tests.integration.conftest import PASSWORD, World, client_id, staff

ROUNDS = 20
SIGN_INS = 6
NEW_PASSWORD = "another-password-456"


@pytest.fixture
def deps(deps: Deps) -> Deps:
    """Sign-ins fail here by the dozen on purpose: the throttle must not stand in for the outcome."""
    deps.limits = replace(deps.limits, login_failures_per_account=10_000, login_failures_per_address=10_000)
    return deps


async def race(*calls: Awaitable[object], refusals: tuple[type[DomainError], ...] = ()) -> list[object]:
    """Run the calls at once; a refusal of an allowed kind is an outcome, anything else fails the test."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, refusals):
            raise outcome
    return outcomes


async def signs_in(deps: Deps, email: str, password: str) -> bool:
    try:
        await login(deps, email, password)
    except Unauthenticated:
        return False
    return True


async def assert_erased(world: World, cid: int, email: str) -> None:
    stored = await world.stored_client(cid)
    assert stored.erased_at is not None
    assert (stored.email, stored.password_hash, stored.first_name, stored.phone) == (None, None, None, None)
    assert stored.account_status is AccountStatus.DELETED
    assert stored.invitation_status is InvitationStatus.NO_ACCESS
    assert stored.last_login_at is None
    async with world.deps.uow(write=False) as uow:
        assert await uow.outbox.of_client(cid) == []
    assert not await signs_in(world.deps, email, PASSWORD)


async def registered(world: World) -> tuple[Viewer, str]:
    kim = await world.client()
    email = (await world.stored_client(kim)).email
    assert email is not None
    return kim, email


async def test_sign_ins_racing_an_erasure_never_bring_the_client_back(world: World) -> None:
    for _ in range(ROUNDS):
        kim, email = await registered(world)
        sign_ins = [login(world.deps, email, PASSWORD) for _ in range(SIGN_INS)]
        await race(
            erase_client(world.deps, world.admin, client_id(kim)), *sign_ins, refusals=(Unauthenticated,)
        )
        await assert_erased(world, client_id(kim), email)


async def test_sign_ins_racing_a_password_change_never_restore_the_old_password(world: World) -> None:
    for _ in range(ROUNDS):
        kim, email = await registered(world)
        sign_ins = [login(world.deps, email, PASSWORD) for _ in range(SIGN_INS)]
        await race(
            change_password(world.deps, kim, PASSWORD, NEW_PASSWORD), *sign_ins, refusals=(Unauthenticated,)
        )
        stored = await world.stored_client(kim)
        assert world.deps.hasher.verify(stored.password_hash or "", NEW_PASSWORD)
        assert stored.session_generation == 1
        assert not await signs_in(world.deps, email, PASSWORD)
        assert await signs_in(world.deps, email, NEW_PASSWORD)


async def test_sign_ins_racing_a_profile_update_keep_the_update(world: World) -> None:
    for n in range(ROUNDS):
        kim, email = await registered(world)
        profile = ClientProfile(first_name=f"Kim {n}", phone="+49 30 1234567")
        sign_ins = [login(world.deps, email, PASSWORD) for _ in range(SIGN_INS)]
        await race(update_client_profile(world.deps, world.admin, client_id(kim), profile), *sign_ins)
        stored = await world.stored_client(kim)
        assert (stored.first_name, stored.phone) == (f"Kim {n}", "+49 30 1234567")
        assert stored.last_login_at is not None


async def test_a_password_change_racing_an_erasure_never_brings_a_password_back(world: World) -> None:
    for _ in range(ROUNDS):
        kim, email = await registered(world)
        await race(
            erase_client(world.deps, world.admin, client_id(kim)),
            change_password(world.deps, kim, PASSWORD, NEW_PASSWORD),
            refusals=(Unauthenticated,),
        )
        await assert_erased(world, client_id(kim), email)
        assert not await signs_in(world.deps, email, NEW_PASSWORD)


async def test_profile_updates_racing_an_erasure_never_bring_personal_data_back(world: World) -> None:
    for n in range(ROUNDS):
        kim, email = await registered(world)
        updates = [
            update_client_profile(world.deps, world.admin, client_id(kim), ClientProfile(phone="+49 30 555")),
            update_client_profile(
                world.deps, kim, client_id(kim), ClientProfile(email=f"new{n}@example.org")
            ),
        ]
        await race(
            erase_client(world.deps, world.admin, client_id(kim)),
            *updates,
            refusals=(Conflict, Unauthenticated),
        )
        await assert_erased(world, client_id(kim), email)


async def invitable(world: World, n: int) -> int:
    profile = ClientProfile(display_name=f"Invited {n}", email=f"invited{n}@example.org")
    return (await create_client(world.deps, world.admin, profile, None)).id


async def test_an_invitation_racing_an_erasure_leaves_no_invitation_behind(world: World) -> None:
    for n in range(ROUNDS):
        cid = await invitable(world, n)
        await race(
            erase_client(world.deps, world.admin, cid),
            invite_client(world.deps, world.admin, cid),
            refusals=(Conflict,),
        )
        await assert_erased(world, cid, f"invited{n}@example.org")


async def test_profile_updates_and_an_invitation_racing_each_other_all_persist(world: World) -> None:
    for n in range(ROUNDS):
        cid = await invitable(world, n)
        await race(
            update_client_profile(world.deps, world.admin, cid, ClientProfile(phone="+49 30 777")),
            update_client_profile(world.deps, world.admin, cid, ClientProfile(first_name=f"Alex {n}")),
            update_client_profile(world.deps, world.admin, cid, ClientProfile(last_name="Muster")),
            invite_client(world.deps, world.admin, cid),
        )
        stored = await world.stored_client(cid)
        assert (stored.phone, stored.first_name, stored.last_name) == ("+49 30 777", f"Alex {n}", "Muster")
        assert stored.invitation_status is InvitationStatus.INVITED


async def test_sign_offs_racing_status_changes_keep_every_change(world: World) -> None:
    for n in range(ROUNDS):
        anna = await world.counsellor(f"Anna {n}")
        admin = world.admin
        await race(
            *(sign_off(world.deps, anna.id) for _ in range(3)),
            update_counsellor(world.deps, admin, CounsellorUpdate(anna.id, active=False, last_name="Berg")),
            set_chat_capacity(world.deps, admin, 3, anna.id),
            set_absence(world.deps, admin, True, "Im Urlaub", anna.id),
        )
        stored = await world.state(anna.id)
        assert stored.online_status is OnlineStatus.OFFLINE
        assert (stored.active, stored.last_name, stored.chat_capacity) == (False, "Berg", 3)
        assert (stored.absent, stored.absence_message) == (True, "Im Urlaub")
        assert stored.session_generation == 1


async def test_a_password_change_racing_a_deactivation_never_reactivates(world: World) -> None:
    for n in range(ROUNDS):
        anna = await world.counsellor(f"Anna {n}", online=False)
        outcomes = await race(
            update_counsellor(world.deps, world.admin, CounsellorUpdate(anna.id, active=False)),
            change_password(world.deps, staff(anna), PASSWORD, NEW_PASSWORD),
            refusals=(Unauthenticated,),
        )
        stored = await world.state(anna.id)
        assert stored.active is False
        changed = isinstance(outcomes[1], Viewer)
        expected = NEW_PASSWORD if changed else PASSWORD
        assert world.deps.hasher.verify(stored.password_hash, expected)
        # Each change that happened ended the sessions once: neither undid the other's increment.
        assert stored.session_generation == 1 + changed
        assert not await signs_in(world.deps, anna.email, expected)


async def racing_password_changes(world: World, account: Viewer, email: str) -> None:
    choices = [f"{NEW_PASSWORD}-{i}" for i in range(3)]
    outcomes = await race(
        *(change_password(world.deps, account, PASSWORD, choice) for choice in choices),
        # The losers find the password changed, before or after checking it.
        refusals=(BadUserInput, Unauthenticated),
    )
    (winner,) = [choice for choice, o in zip(choices, outcomes, strict=True) if isinstance(o, Viewer)]
    assert [await signs_in(world.deps, email, choice) for choice in choices] == [
        choice == winner for choice in choices
    ]
    assert not await signs_in(world.deps, email, PASSWORD)


async def test_racing_password_changes_of_one_account_let_exactly_one_win(world: World) -> None:
    for n in range(ROUNDS):
        kim, email = await registered(world)
        await racing_password_changes(world, kim, email)
        assert (await world.stored_client(kim)).session_generation == 1
        anna: Counsellor = await world.counsellor(f"Anna {n}", online=False)
        await racing_password_changes(world, staff(anna), anna.email)
        assert (await world.state(anna.id)).session_generation == 1


async def test_a_whole_row_write_of_a_row_the_transaction_did_not_lock_is_refused(world: World) -> None:
    anna = await world.counsellor("Anna", online=False)
    kim = await world.client()
    async with world.deps.uow() as uow:
        counsellor = await uow.counsellors.get(anna.id)
        client = await uow.clients.get(client_id(kim))
        settings = await uow.settings.get()
        assert counsellor is not None and client is not None
        for write in (
            lambda: uow.counsellors.save(counsellor),
            lambda: uow.clients.save_profile(client),
            lambda: uow.clients.erase(client),
            lambda: uow.settings.save(settings),
        ):
            with pytest.raises(RuntimeError, match="lock"):
                await write()
