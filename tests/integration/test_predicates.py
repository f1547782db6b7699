"""The SQL mirror of the routing policy agrees with domain.policy on a generated population.

persistence/counsellor_repository.py turns chat_free / mail_free / may_take / choice_key into SQL so the
database can find and claim candidates atomically. Here ~200 counsellors with every kind of setting are
stored, and for each channel and primary the SQL answers are compared with the pure functions.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from domain.model import Channel, Counsellor, MailAvailability, OnlineStatus, StaffRole
from domain.policy import choice_key, choose_counsellor, free_on, may_take
from domain.use_cases import Deps
from persistence.database import Engines
from persistence.tables import counsellors as counsellors_table
from tests.fakes import START

SEED = 20261126
POPULATION = 200
CHANNELS = pytest.mark.parametrize("channel", [Channel.CHAT, Channel.MAIL], ids=["chat", "mail"])


def _generate(rng: random.Random) -> list[Counsellor]:
    """Counsellors over every combination that matters, with loads at, below and above the limits."""
    # A few shared instants, so ties on the last assignment and on the creation time are common.
    instants = [START + timedelta(minutes=m) for m in range(4)]
    people: list[Counsellor] = []
    for n in range(POPULATION):
        capacity = rng.choice([0, 1, 2, 3])
        resources = rng.choice([0, 1, 2])
        people.append(
            Counsellor(
                id=0,
                email=f"p{n}@example.org",
                display_name=f"Person {n}",
                role=rng.choice(list(StaffRole)),
                created_at=rng.choice(instants),
                password_hash="plain:x",
                active=rng.random() < 0.8,
                absent=rng.random() < 0.2,
                online_status=rng.choice(list(OnlineStatus)),
                chat_capacity=capacity,
                active_chat_count=max(0, capacity + rng.choice([-2, -1, -1, 0, 1])),
                mail_availability=rng.choice(list(MailAvailability)),
                mail_resources=resources,
                open_mail_count=max(0, resources + rng.choice([-2, -1, -1, 0, 1])),
                only_own_clients=rng.random() < 0.25,
                last_chat_assigned_at=rng.choice([None, *instants]),
                last_mail_assigned_at=rng.choice([None, *instants]),
            )
        )
    return people


async def _store(deps: Deps, engines: Engines, people: list[Counsellor]) -> list[Counsellor]:
    """Add through the repository, then write loads and assignment times straight into the rows."""
    async with deps.uow() as uow:
        stored = [await uow.counsellors.add(p) for p in people]
        await uow.commit()
    t = counsellors_table
    async with engines.write.begin() as conn:
        for row, person in zip(stored, people, strict=True):
            await conn.execute(
                update(t)
                .where(t.c.id == row.id)
                .values(
                    active_chat_count=person.active_chat_count,
                    open_mail_count=person.open_mail_count,
                    last_chat_assigned_at=person.last_chat_assigned_at,
                    last_mail_assigned_at=person.last_mail_assigned_at,
                )
            )
    async with deps.uow(write=False) as uow:
        loaded = await uow.counsellors.get_many([r.id for r in stored])
    return [loaded[r.id] for r in stored]


@pytest.fixture
async def population(deps: Deps, engines: Engines) -> list[Counsellor]:
    people = await _store(deps, engines, _generate(random.Random(SEED)))
    # What was generated is what is stored (otherwise the comparison below proves little).
    generated = _generate(random.Random(SEED))
    for stored, wanted in zip(people, generated, strict=True):
        assert (stored.active_chat_count, stored.open_mail_count) == (
            wanted.active_chat_count,
            wanted.open_mail_count,
        )
        assert (stored.last_chat_assigned_at, stored.created_at) == (
            wanted.last_chat_assigned_at,
            wanted.created_at,
        )
    return people


def _primaries(people: list[Counsellor]) -> list[int | None]:
    """No primary, every counsellor limited to their own clients, a few others, and an unknown id."""
    own = [p.id for p in people if p.only_own_clients]
    others = [p.id for p in people if not p.only_own_clients][:5]
    return [None, *own, *others, 10**6]


def test_the_generated_population_covers_every_case() -> None:
    people = _generate(random.Random(SEED))
    for channel in Channel:
        free = [p for p in people if free_on(p, channel)]
        assert 10 < len(free) < len(people) - 10, channel
        assert any(p.only_own_clients for p in free), channel
    assert any(p.active_chat_count == p.chat_capacity > 0 for p in people)
    assert any(p.active_chat_count > p.chat_capacity for p in people)
    assert any(p.open_mail_count > p.mail_resources for p in people)
    eligible_full = [
        p
        for p in people
        if p.eligible
        and p.mail_availability is MailAvailability.BY_FREE_RESOURCES
        and not free_on(p, Channel.MAIL)
    ]
    assert eligible_full
    keys = [choice_key(p, Channel.CHAT)[:3] for p in people if free_on(p, Channel.CHAT)]
    assert len(keys) > len(set(keys)), "no ties on load, last assignment and creation: id never decides"


@CHANNELS
async def test_candidates_are_exactly_the_counsellors_who_may_take_it_best_first(
    deps: Deps, population: list[Counsellor], channel: Channel
) -> None:
    async with deps.uow(write=False) as uow:
        for primary_id in _primaries(population):
            found = await uow.counsellors.candidates(channel, primary_id, len(population) + 1)
            expected = sorted(
                (p for p in population if may_take(p, channel, primary_id)),
                key=lambda p: choice_key(p, channel),
            )
            assert [c.id for c in found] == [c.id for c in expected], f"primary {primary_id}"


@CHANNELS
async def test_the_first_candidate_is_the_one_choose_counsellor_picks(
    deps: Deps, population: list[Counsellor], channel: Channel
) -> None:
    async with deps.uow(write=False) as uow:
        for primary_id in _primaries(population):
            found = await uow.counsellors.candidates(channel, primary_id, 8)
            chosen = choose_counsellor(population, channel, primary_id)
            assert chosen is not None
            assert found[0].id == chosen.id, f"primary {primary_id}"
            assert len(found) == 8


@CHANNELS
async def test_a_checked_claim_succeeds_exactly_for_the_free(
    deps: Deps, population: list[Counsellor], channel: Channel
) -> None:
    now = START + timedelta(hours=1)
    async with deps.uow() as uow:  # never committed: every claim is rolled back
        for person in population:
            claimed = await uow.counsellors.claim(person.id, channel, now, checked=True)
            assert (claimed is not None) == free_on(person, channel), person
            if claimed is not None:
                assert claimed.load(channel) == person.load(channel) + 1
                assert claimed.last_assigned_at(channel) == now
    async with deps.uow(write=False) as uow:
        after = await uow.counsellors.get_many([p.id for p in population])
    assert [after[p.id].load(channel) for p in population] == [p.load(channel) for p in population]


@CHANNELS
async def test_an_unchecked_claim_always_succeeds(
    deps: Deps, population: list[Counsellor], channel: Channel
) -> None:
    now: datetime = START + timedelta(hours=1)
    async with deps.uow() as uow:
        for person in population:
            claimed = await uow.counsellors.claim(person.id, channel, now, checked=False)
            assert claimed is not None and claimed.load(channel) == person.load(channel) + 1
