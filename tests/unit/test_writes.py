"""Writes that find the row changed since it was read (issue 8): each is refused cleanly and undoes nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from domain.errors import Conflict, Unauthenticated
from domain.model import AccountStatus, Role, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import change_password
from domain.use_cases.clients import ClientProfile, invite_client, update_client_profile
from tests.fakes import START, FakeUnitOfWorkFactory, PlainHasher

ADMIN = Viewer(role=Role.ADMIN, counsellor_id=999)
OLD, NEW = "password-123", "another-password-456"


class HasherWithARacingWrite(PlainHasher):
    """Another write commits while the new password is being hashed (between check and write)."""

    def __init__(self, racing_write: Callable[[], None]) -> None:
        self._racing_write = racing_write

    def hash(self, password: str) -> str:
        self._racing_write()
        return super().hash(password)


def erased(factory: FakeUnitOfWorkFactory) -> int:
    client = factory.seed_client(
        account_status=AccountStatus.DELETED, erased_at=START, display_name="Gelöschte:r Klient:in"
    )
    return client.id


async def test_a_profile_update_of_an_erased_client_is_a_conflict_and_writes_nothing(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    cid = erased(factory)
    with pytest.raises(Conflict) as refused:
        await update_client_profile(
            deps, ADMIN, cid, ClientProfile(email="back@example.org", phone="+49 30 1")
        )
    assert refused.value.field == "input.id"
    assert (factory.client(cid).email, factory.client(cid).phone) == (None, None)


async def test_an_invitation_of_an_erased_client_is_a_conflict_and_sends_nothing(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    cid = erased(factory)
    with pytest.raises(Conflict) as refused:
        await invite_client(deps, ADMIN, cid)
    assert refused.value.field == "id"
    assert factory.store.invitations == []


async def test_a_password_change_after_an_erasure_during_hashing_is_refused(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    kim = factory.seed_client(email="kim@example.org", password_hash=PlainHasher().hash(OLD))

    def erase() -> None:
        stored = factory.store.clients[kim.id]
        stored.password_hash, stored.account_status, stored.erased_at = None, AccountStatus.DELETED, START
        stored.session_generation += 1

    deps.hasher = HasherWithARacingWrite(erase)
    with pytest.raises(Unauthenticated):
        await change_password(deps, Viewer(role=Role.CLIENT, client_id=kim.id), OLD, NEW)
    assert (factory.client(kim.id).password_hash, factory.client(kim.id).session_generation) == (None, 1)


async def test_a_password_change_after_a_deactivation_during_hashing_is_refused(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    anna = factory.seed_counsellor(password_hash=PlainHasher().hash(OLD))

    def deactivate() -> None:
        factory.store.counsellors[anna.id].active = False
        factory.store.counsellors[anna.id].session_generation += 1

    deps.hasher = HasherWithARacingWrite(deactivate)
    with pytest.raises(Unauthenticated):
        await change_password(deps, Viewer(role=Role.COUNSELLOR, counsellor_id=anna.id), OLD, NEW)
    stored = factory.counsellor(anna.id)
    assert (stored.active, stored.password_hash, stored.session_generation) == (False, "plain:" + OLD, 1)


async def test_of_two_password_changes_checked_at_once_only_the_first_write_wins(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    kim = factory.seed_client(email="kim@example.org", password_hash=PlainHasher().hash(OLD))

    def other_change() -> None:
        factory.store.clients[kim.id].password_hash = "plain:third-password-789"
        factory.store.clients[kim.id].session_generation += 1

    deps.hasher = HasherWithARacingWrite(other_change)
    with pytest.raises(Unauthenticated):
        await change_password(deps, Viewer(role=Role.CLIENT, client_id=kim.id), OLD, NEW)
    stored = factory.client(kim.id)
    assert (stored.password_hash, stored.session_generation) == ("plain:third-password-789", 1)
