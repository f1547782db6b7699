"""Member management on both databases: invitations, blocking, deletion and restore, the member
list and the staff list, and the races that matter for each."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import pytest

from domain.errors import BadUserInput, Conflict, Unauthenticated
from domain.model import (
    AccountStatus,
    Channel,
    InvitationStatus,
    OutgoingMail,
    RequestStatus,
    Role,
    SessionClaims,
    StaffRole,
)
from domain.ports import ClientOrder, ClientQuery, StaffQuery
from domain.use_cases import reads
from domain.use_cases.accounts import current_viewer, login
from domain.use_cases.clients import ClientProfile, create_client, invite_client
from domain.use_cases.counsellors import (
    CounsellorUpdate,
    NewCounsellor,
    create_counsellor,
    invite_counsellor,
    staff_page,
    update_counsellor,
)
from domain.use_cases.invitations import accept_invitation
from domain.use_cases.members import block_client, delete_client, restore_client, unblock_client
from domain.use_cases.privacy import erase_due_clients
from domain.use_cases.requests import submit_request
from tests.integration.conftest import PASSWORD, World, client_id, staff

NEW_PASSWORD = "a-new-password-1"


async def queued_mails(world: World) -> list[OutgoingMail]:
    """Every unsent mail, claimed by this test (as a sender would)."""
    async with world.deps.uow() as uow:
        found = await uow.mails.claim(world.clock.now(), 60, 100)
        for mail in found:
            await uow.mails.sent(mail, world.clock.now())
        await uow.commit()
    return found


def token_in(mail: OutgoingMail) -> str:
    found = re.search(r"/invitation\?token=([A-Za-z0-9_-]+)", mail.body)
    assert found, mail.body
    return found.group(1)


async def invited_client(world: World, name: str = "Ina", email: str = "ina@example.org") -> tuple[int, str]:
    created = await create_client(
        world.deps, world.admin, ClientProfile(display_name=name, email=email), None
    )
    await invite_client(world.deps, world.admin, created.id)
    (mail,) = await queued_mails(world)
    assert mail.recipient == email and mail.client_id == created.id
    return created.id, token_in(mail)


async def test_an_invited_client_sets_a_password_once_and_is_signed_in(world: World) -> None:
    cid, token = await invited_client(world)
    assert (await world.stored_client(cid)).invitation_status is InvitationStatus.INVITED

    viewer = await accept_invitation(world.deps, token, NEW_PASSWORD)

    assert viewer.role is Role.CLIENT and viewer.client_id == cid
    stored = await world.stored_client(cid)
    assert (
        stored.invitation_status is InvitationStatus.REGISTERED and stored.last_login_at == world.clock.now()
    )
    assert (await login(world.deps, "ina@example.org", NEW_PASSWORD)).client_id == cid
    with pytest.raises(BadUserInput) as used:
        await accept_invitation(world.deps, token, "another-password-2")
    assert used.value.field == "token"


async def test_a_resent_invitation_replaces_the_link_and_an_old_or_expired_one_is_refused(
    world: World,
) -> None:
    cid, first = await invited_client(world)
    await invite_client(world.deps, world.admin, cid)
    (mail,) = await queued_mails(world)
    second = token_in(mail)
    assert second != first

    with pytest.raises(BadUserInput, match="expired or was used"):
        await accept_invitation(world.deps, first, NEW_PASSWORD)
    world.clock.advance(timedelta(days=7, seconds=1).total_seconds())
    with pytest.raises(BadUserInput) as expired:
        await accept_invitation(world.deps, second, NEW_PASSWORD)
    assert expired.value.field == "token"


async def test_the_password_rules_apply_when_accepting(world: World) -> None:
    _, token = await invited_client(world)
    with pytest.raises(BadUserInput) as short:
        await accept_invitation(world.deps, token, "short")
    assert short.value.field == "password"
    assert (await accept_invitation(world.deps, token, NEW_PASSWORD)).client_id is not None


async def test_of_two_parallel_acceptances_of_one_token_exactly_one_wins(world: World) -> None:
    for n in range(5):
        _, token = await invited_client(world, f"Race {n}", f"race{n}@example.org")
        results = await asyncio.gather(
            accept_invitation(world.deps, token, "first-password-1"),
            accept_invitation(world.deps, token, "second-password-2"),
            return_exceptions=True,
        )
        won = [r for r in results if not isinstance(r, BaseException)]
        lost = [r for r in results if isinstance(r, BaseException)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], BadUserInput) and lost[0].field == "token"


async def test_a_counsellor_created_without_password_is_invited_and_signs_in_after_accepting(
    world: World,
) -> None:
    created = await create_counsellor(
        world.deps, world.admin, NewCounsellor("nina@example.org", None, "Nina", role=StaffRole.COUNSELLOR)
    )
    assert created.invitation_status is InvitationStatus.INVITED
    with pytest.raises(Unauthenticated):
        await login(world.deps, "nina@example.org", "")
    await invite_counsellor(world.deps, world.admin, created.id)  # resent: only the new link works
    first, second = await queued_mails(world)

    with pytest.raises(BadUserInput):
        await accept_invitation(world.deps, token_in(first), NEW_PASSWORD)
    viewer = await accept_invitation(world.deps, token_in(second), NEW_PASSWORD)

    assert viewer.role is Role.COUNSELLOR and viewer.counsellor_id == created.id
    assert (await login(world.deps, "nina@example.org", NEW_PASSWORD)).counsellor_id == created.id
    stored = await world.state(created.id)
    assert stored.invitation_status is InvitationStatus.REGISTERED and stored.last_login_at is not None
    with pytest.raises(Conflict):
        await invite_counsellor(world.deps, world.admin, created.id)


async def test_a_blocked_client_cannot_sign_in_loses_their_sessions_and_cannot_submit(world: World) -> None:
    kim = await world.client("Kim")
    cid = client_id(kim)
    session = await login(world.deps, "k1@example.org", PASSWORD)

    blocked = await block_client(world.deps, world.admin, cid)

    assert blocked.account_status is AccountStatus.BLOCKED
    with pytest.raises(Unauthenticated, match="blocked"):
        await login(world.deps, "k1@example.org", PASSWORD)
    with pytest.raises(Unauthenticated, match="blocked"):
        await current_viewer(
            world.deps, SessionClaims(Role.CLIENT, cid, "t1", world.clock.now(), session.session_generation)
        )
    with pytest.raises(Unauthenticated, match="blocked"):
        await submit_request(world.deps, kim, Channel.CHAT, "Hallo", None, None)
    with pytest.raises(Conflict):
        await block_client(world.deps, world.admin, cid)

    await unblock_client(world.deps, world.admin, cid)
    assert (await login(world.deps, "k1@example.org", PASSWORD)).client_id == cid


async def test_block_racing_a_sign_in_leaves_no_usable_session(world: World) -> None:
    for n in range(5):
        viewer = await world.client(f"Racer {n}")
        cid = client_id(viewer)
        email = (await world.stored_client(cid)).email or ""
        signed, _ = await asyncio.gather(
            login(world.deps, email, PASSWORD),
            block_client(world.deps, world.admin, cid),
            return_exceptions=True,
        )
        if isinstance(signed, BaseException):
            assert isinstance(signed, Unauthenticated), signed
            continue
        with pytest.raises(Unauthenticated):
            await current_viewer(
                world.deps,
                SessionClaims(Role.CLIENT, cid, f"t{n}", world.clock.now(), signed.session_generation),
            )


async def test_a_deleted_client_is_restored_within_the_grace_period_and_erased_after_it(world: World) -> None:
    kim = await world.client("Kim")
    cid = client_id(kim)
    await world.submit(kim, Channel.MAIL, "Bitte melden")

    deleted = await delete_client(world.deps, world.admin, cid)
    assert deleted.account_status is AccountStatus.DELETED and deleted.deleted_at == world.clock.now()
    assert deleted.erasure_due_at == world.clock.now() + timedelta(days=30)
    with pytest.raises(Unauthenticated):
        await login(world.deps, "k1@example.org", PASSWORD)
    restored = await restore_client(world.deps, world.admin, cid)
    assert restored.account_status is AccountStatus.ACTIVE and restored.deleted_at is None
    assert (await login(world.deps, "k1@example.org", PASSWORD)).client_id == cid

    await delete_client(world.deps, world.admin, cid)
    world.clock.advance(timedelta(days=29).total_seconds())
    assert await erase_due_clients(world.deps) == 0
    world.clock.advance(timedelta(days=1).total_seconds())
    assert await erase_due_clients(world.deps) == 1

    erased = await world.stored_client(cid)
    assert erased.erased_at is not None and erased.email is None and erased.deleted_at is None
    assert all(r.message is None and r.status is not RequestStatus.QUEUED for r in await world.all_requests())
    with pytest.raises(Conflict, match="erased"):
        await restore_client(world.deps, world.admin, cid)


async def test_a_restore_racing_the_sweeps_erasure_ends_either_restored_or_erased(world: World) -> None:
    for n in range(5):
        viewer = await world.client(f"Late {n}")
        cid = client_id(viewer)
        await delete_client(world.deps, world.admin, cid)
        world.clock.advance(timedelta(days=31).total_seconds())
        restored, _ = await asyncio.gather(
            restore_client(world.deps, world.admin, cid),
            erase_due_clients(world.deps),
            return_exceptions=True,
        )
        stored = await world.stored_client(cid)
        if isinstance(restored, BaseException):
            assert isinstance(restored, Conflict), restored
            assert stored.erased_at is not None
        else:
            assert stored.erased_at is None and stored.account_status is AccountStatus.ACTIVE
            assert stored.email is not None


async def test_the_member_list_counts_open_requests_the_viewer_may_see_and_sorts_and_filters(
    world: World,
) -> None:
    anna = await world.counsellor("Anna", chat=5)
    ben = await world.counsellor("Ben", chat=5, online=False)
    kim, lou = await world.client("Kim"), await world.client("Lou")
    await world.submit(kim)  # Anna becomes Kim's primary
    await world.submit(kim, Channel.MAIL)
    await world.submit(lou)  # Lou's too
    await update_counsellor(world.deps, world.admin, CounsellorUpdate(ben.id, display_name="Ben"))
    async with world.deps.uow(write=False) as uow:
        admin_page = await uow.clients.visible_page(world.admin, ClientQuery(), 50, None)
        anna_page = await uow.clients.visible_page(staff(anna), ClientQuery(), 50, None)
        ben_page = await uow.clients.visible_page(staff(ben), ClientQuery(), 50, None)
    by_name = {c.display_name: c for _, c in admin_page.items}
    assert by_name["Kim"].open_request_count == 2 and by_name["Lou"].open_request_count == 1
    assert by_name["Kim"].last_request_at == (await world.all_requests())[1].created_at
    assert {c.display_name for _, c in anna_page.items} == {"Kim", "Lou"} and anna_page.total == 2
    assert ben_page.total == 0

    await block_client(world.deps, world.admin, client_id(lou))
    async with world.deps.uow(write=False) as uow:
        blocked = await uow.clients.visible_page(
            world.admin, ClientQuery(account_status=AccountStatus.BLOCKED), 50, None
        )
        by_status = await uow.clients.visible_page(
            world.admin, ClientQuery(order=ClientOrder.ACCOUNT_STATUS), 1, None
        )
        second = await uow.clients.visible_page(
            world.admin, ClientQuery(order=ClientOrder.ACCOUNT_STATUS), 1, by_status.items[0][0]
        )
        by_login = await uow.clients.visible_page(
            world.admin, ClientQuery(order=ClientOrder.LAST_LOGIN), 50, None
        )
        registered = await uow.clients.visible_page(
            world.admin, ClientQuery(invitation_status=InvitationStatus.REGISTERED), 50, None
        )
    assert [c.display_name for _, c in blocked.items] == ["Lou"]
    assert [c.account_status for _, c in by_status.items + second.items] == [
        AccountStatus.ACTIVE,
        AccountStatus.BLOCKED,
    ]
    assert [c.display_name for _, c in by_login.items] == ["Lou", "Kim"]  # Lou registered last
    assert registered.total == 2
    counts = await reads.open_request_counts(world.deps, staff(ben), [client_id(kim)])
    assert counts == {client_id(kim): 0}


async def test_the_last_active_admin_cannot_be_demoted_even_by_two_admins_at_once(world: World) -> None:
    second = await world.counsellor("Second Admin", online=False)
    await update_counsellor(world.deps, world.admin, CounsellorUpdate(second.id, role=StaffRole.ADMIN))
    both = await asyncio.gather(
        update_counsellor(world.deps, world.admin, CounsellorUpdate(second.id, role=StaffRole.COUNSELLOR)),
        update_counsellor(
            world.deps,
            staff(await world.state(second.id)),
            CounsellorUpdate(world.admin.counsellor_id or 0, active=False),
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Conflict) for r in both) == 1, both
    async with world.deps.uow(write=False) as uow:
        assert len(await uow.counsellors.lock_active_admins()) == 1


async def test_the_staff_list_searches_case_insensitively_and_treats_wildcards_as_text(world: World) -> None:
    await world.counsellor("Anna Berger", online=False)
    await world.counsellor("Ben 100%", online=False)
    await world.counsellor("Ben_x", online=True)
    found = await staff_page(world.deps, world.admin, StaffQuery(search="BERGER"), 10, None)
    assert [c.display_name for _, c in found.items] == ["Anna Berger"]
    percent = await staff_page(world.deps, world.admin, StaffQuery(search="%"), 10, None)
    assert [c.display_name for _, c in percent.items] == ["Ben 100%"]
    underscore = await staff_page(world.deps, world.admin, StaffQuery(search="_"), 10, None)
    assert [c.display_name for _, c in underscore.items] == ["Ben_x"]
    admins = await staff_page(world.deps, world.admin, StaffQuery(role=StaffRole.ADMIN), 10, None)
    assert admins.total == 1
    first = await staff_page(world.deps, world.admin, StaffQuery(), 2, None)
    rest = await staff_page(world.deps, world.admin, StaffQuery(), 2, first.items[-1][0])
    assert first.total == 4 and first.has_next and len(rest.items) == 2 and not rest.has_next
