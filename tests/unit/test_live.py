"""The live layer's pure logic: sessions ended by events alone, and an availability board fed by
events that answers as the routing policy does on the stored state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import pytest

from domain.events import CounsellorStateChanged, SessionsEnded, SettingsChanged, StateMayBeStale
from domain.live import AvailabilityBoard, session_after
from domain.model import (
    ANONYMOUS,
    Counsellor,
    MailAvailability,
    OnlineStatus,
    Role,
    Settings,
    StaffRole,
    Viewer,
)
from domain.use_cases import Deps
from domain.use_cases.availability import availability
from domain.use_cases.counsellors import (
    CounsellorUpdate,
    SettingsUpdate,
    set_absence,
    set_chat_capacity,
    set_fallback_counsellor,
    set_mail_availability,
    set_online_status,
    update_counsellor,
    update_settings,
)
from persistence import event_codec
from tests.fakes import START, FakeUnitOfWorkFactory

ADMIN = Viewer(role=Role.ADMIN, counsellor_id=999)
COUNSELLOR = Viewer(role=Role.COUNSELLOR, counsellor_id=7, token_id="t1", session_generation=2)
CLIENT = Viewer(role=Role.CLIENT, client_id=3, token_id="t2")


def _state(**changes: object) -> CounsellorStateChanged:
    values: dict[str, object] = {
        "email": "c@example.org",
        "display_name": "C",
        "role": StaffRole.COUNSELLOR,
        "created_at": START,
        "session_generation": 2,
    }
    return CounsellorStateChanged(Counsellor(id=7, **(values | changes)))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("viewer", "event", "ends"),
    [
        (COUNSELLOR, SessionsEnded(counsellor_id=7), True),  # password change, deactivation
        (COUNSELLOR, SessionsEnded(counsellor_id=7, token_id="t1"), True),  # logout of this session
        (COUNSELLOR, SessionsEnded(counsellor_id=7, token_id="other"), False),  # of another session
        (COUNSELLOR, SessionsEnded(counsellor_id=8), False),
        (COUNSELLOR, SessionsEnded(client_id=7), False),  # a client with the same number
        (CLIENT, SessionsEnded(client_id=3), True),  # erasure, password change
        (CLIENT, SessionsEnded(client_id=3, token_id="t2"), True),
        (CLIENT, SessionsEnded(counsellor_id=3), False),
        (ANONYMOUS, SessionsEnded(client_id=3), False),
        (COUNSELLOR, _state(active=False), True),
        (COUNSELLOR, _state(session_generation=3), True),
        (COUNSELLOR, _state(session_generation=1), False),  # published before this session began
        (COUNSELLOR, _state(online_status=OnlineStatus.ONLINE), False),
        (COUNSELLOR, StateMayBeStale(), False),
    ],
)
def test_an_event_alone_tells_whether_it_ended_a_session(viewer: Viewer, event: object, ends: bool) -> None:
    assert (session_after(viewer, event) is None) is ends  # type: ignore[arg-type]


def test_a_role_change_reaches_the_viewer_at_once() -> None:
    promoted = session_after(COUNSELLOR, _state(role=StaffRole.ADMIN))
    assert promoted is not None and promoted.role is Role.ADMIN and promoted.token_id == "t1"
    assert session_after(promoted, _state()) == COUNSELLOR


@pytest.mark.parametrize(
    "event",
    [
        SessionsEnded(counsellor_id=7, client_id=None, token_id="abc"),
        SessionsEnded(client_id=3),
        SettingsChanged(Settings(fallback_counsellor_id=4, primary_chat_wait_seconds=30)),
    ],
)
def test_the_new_events_cross_the_bus_unchanged(event: object) -> None:
    assert event_codec.decode(event_codec.encode(event)) == event  # type: ignore[arg-type]


Step = Callable[[Deps, list[Counsellor]], Awaitable[object]]
STEPS: list[tuple[str, Step]] = [
    ("primary online", lambda d, c: set_online_status(d, ADMIN, OnlineStatus.ONLINE, c[0].id)),
    ("primary full", lambda d, c: set_chat_capacity(d, ADMIN, 0, c[0].id)),
    (
        "primary waited for",
        lambda d, c: update_settings(d, ADMIN, SettingsUpdate(primary_chat_wait_seconds=30)),
    ),
    ("own-clients counsellor online", lambda d, c: set_online_status(d, ADMIN, OnlineStatus.ONLINE, c[1].id)),
    ("no wait", lambda d, c: update_settings(d, ADMIN, SettingsUpdate(primary_chat_wait_seconds=0))),
    ("other online", lambda d, c: set_online_status(d, ADMIN, OnlineStatus.ONLINE, c[2].id)),
    ("other absent", lambda d, c: set_absence(d, ADMIN, True, None, c[2].id)),
    (
        "mail by others",
        lambda d, c: set_mail_availability(d, ADMIN, MailAvailability.UNLIMITED, None, c[2].id),
    ),
    ("other present", lambda d, c: set_absence(d, ADMIN, False, None, c[2].id)),
    ("other mail off", lambda d, c: set_mail_availability(d, ADMIN, MailAvailability.NONE, None, c[2].id)),
    ("fallback", lambda d, c: set_fallback_counsellor(d, ADMIN, c[1].id)),
    ("fallback elsewhere", lambda d, c: set_fallback_counsellor(d, ADMIN, c[2].id)),
    ("other deactivated", lambda d, c: update_counsellor(d, ADMIN, CounsellorUpdate(c[2].id, active=False))),
    ("primary free", lambda d, c: set_chat_capacity(d, ADMIN, 2, c[0].id)),
    ("primary offline", lambda d, c: set_online_status(d, ADMIN, OnlineStatus.OFFLINE, c[0].id)),
]


async def test_a_board_fed_by_events_answers_as_the_policy_does_on_the_stored_state(
    deps: Deps, factory: FakeUnitOfWorkFactory
) -> None:
    staff = [
        factory.seed_counsellor(),
        factory.seed_counsellor(only_own_clients=True),
        factory.seed_counsellor(),
    ]
    with_primary = factory.seed_client(primary_counsellor_id=staff[0].id)
    of_own_only = factory.seed_client(primary_counsellor_id=staff[1].id)
    without = factory.seed_client()
    viewers = [ANONYMOUS] + [
        Viewer(role=Role.CLIENT, client_id=c.id) for c in (with_primary, of_own_only, without)
    ]
    primaries = [None, staff[0].id, staff[1].id, None]
    board = AvailabilityBoard([factory.counsellor(c.id) for c in staff], Settings())
    now = datetime.now(UTC)
    for name, step in STEPS:
        seen = len(factory.published)
        before = {p: board.answer(p, now) for p in primaries}
        await step(deps, staff)
        scopes = [board.apply(event) for event in factory.published[seen:]]
        # Whoever a change did not name kept their answer: only the groups it names are told.
        everyone = any(s is not None and s.everyone for s in scopes)
        named = {p for s in scopes if s is not None for p in s.primaries}
        for primary_id in primaries:
            if not everyone and primary_id not in named:
                assert board.answer(primary_id, now) == before[primary_id], (name, primary_id)
        for viewer, primary_id in zip(viewers, primaries, strict=True):
            stored = await availability(deps, viewer)
            answer = board.answer(primary_id, now)
            found = (answer.chat_available, answer.mail_available, answer.primary)
            assert found == (stored.chat_available, stored.mail_available, stored.primary), (name, viewer)


def test_answers_are_shared_until_a_change() -> None:
    board = AvailabilityBoard([], Settings())
    now = datetime.now(UTC)
    first = board.answer(None, now)
    assert board.answer(None, now) is first
    assert not board.apply(SettingsChanged(Settings()))  # the same settings: nothing changed
    assert board.answer(None, now) is first
    assert board.apply(SettingsChanged(Settings(primary_chat_wait_seconds=5)))
    assert board.answer(None, now) is not first
