"""The permission matrix: every operation of the schema against every kind of viewer (routing.md,
"Who sees what" and "Errors"), as data, each cell run through the real schema on a real database.

A cell's expected outcome is `data` (no error, the operation's field is set), `null` (no error, the
field is null), `silent` (a subscription that neither fails nor sends anything, even after an event
it must not see) or the exact `extensions.code` of the error. The matrix must hold a row for every
query, mutation and subscription of the schema: a new operation without a row fails
`test_the_matrix_has_a_row_for_every_operation_of_the_schema`. What each viewer reads of every
field the operations reach is tested in test_field_visibility.py.

Subscription cells wait for events, never for time: a subscription with an initial state is
awaited until it sends it; one without is triggered once it listens, and `silent` holds only once
the subscription has dealt with the trigger's events (see `WatchedBus`).

Every cell gets a fresh database holding the scene (a copy of one built once through the use cases),
so mutations never depend on each other. The module runs on SQLite only (the `backend` fixture is
narrowed below): permissions are decided in Python, the same on both databases, and ~400 fresh
databases would take minutes on PostgreSQL, where a database file cannot be copied.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from strawberry.types import ExecutionResult

from domain.model import Channel
from domain.use_cases import Deps
from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.requests import submit_request
from domain.use_cases.routing import Dispatcher
from graph.context import AppState
from graph.schema import schema
from persistence.crypto import TextCipher
from persistence.database import Engines, create_engines
from persistence.event_bus import EventBus
from persistence.migrate import migrate
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.conftest import GENEROUS_LIMITS
from tests.fakes import FixedClock, MemoryBlobs, PlainHasher, settling
from tests.security.scene import (
    NEW_PASSWORD,
    PASSWORD,
    SIGNER,
    VIEWERS,
    Scene,
    Subscription,
    WatchedBus,
    build_scene,
    context_of,
    root_field,
    subscribed,
)
from tests.services import SQLITE, Backend
from tests.support import samples
from tests.support.samples import SampleUpload


@pytest.fixture(params=[pytest.param(SQLITE, id="sqlite")])
def backend(request: pytest.FixtureRequest) -> Backend:
    """SQLite only, for the whole module: one fresh database per cell must stay fast (see above)."""
    return request.param  # type: ignore[no-any-return]


# --- The template of every cell's database ------------------------------------------------------


# Every cell starts from a copy of one database holding the scene: building it ~400 times through
# the use cases (and migrating ~400 databases) would take minutes. Request texts are encrypted at
# rest, so every cell reads them with the key the scene was written with.
DATA_KEY = secrets.token_bytes(32)
# The scene's document files, for every cell (a cell that deletes one only hides it from later
# cells' databases, which are fresh copies without that deletion: they never read it).
BLOBS = MemoryBlobs()


@dataclass(frozen=True)
class Template:
    path: Path
    raw: dict[str, int]
    tokens: dict[str, str | None]


def _deps(engines: Engines, bus: EventBus, clock: FixedClock) -> Deps:
    """As tests/conftest.py builds them, with the scene's data key."""
    factory = SqlUnitOfWorkFactory(engines, bus.publish, TextCipher(DATA_KEY))
    found = Deps(uow=factory, clock=clock, hasher=PlainHasher(), limits=GENEROUS_LIMITS, blobs=BLOBS)
    found.dispatch = settling(Dispatcher(found))
    return found


async def _build_template(path: Path) -> Template:
    engines = create_engines(f"sqlite+aiosqlite:///{path}")
    bus = EventBus("memory://")
    await bus.connect()
    try:
        await migrate(engines.write)
        raw, tokens = await build_scene(_deps(engines, bus, FixedClock()), SIGNER)
    finally:
        await bus.disconnect()
        await engines.dispose()
    return Template(path, raw, tokens)


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The scene, built once into a database file in its own event loop."""
    path = tmp_path_factory.mktemp("matrix") / "scene.db"
    return asyncio.run(_build_template(path))


@pytest.fixture
def database_url(backend: Backend, template: Template, tmp_path: Path) -> str:
    """A fresh copy of the scene's database for each test (SQLite only: see the module doc)."""
    assert backend is SQLITE
    copy = tmp_path / "stamm.db"
    for suffix in ("", "-wal", "-shm"):
        source = template.path.with_name(template.path.name + suffix)
        if source.exists():
            shutil.copyfile(source, copy.with_name(copy.name + suffix))
    return f"sqlite+aiosqlite:///{copy}"


@pytest.fixture
def deps(engines: Engines, bus: EventBus, clock: FixedClock) -> Deps:
    return _deps(engines, bus, clock)


@pytest.fixture
def scene(deps: Deps, bus: EventBus, template: Template) -> Scene:
    state = AppState(deps=deps, signer=SIGNER, bus=WatchedBus(bus))
    return Scene(deps, state, dict(template.raw), dict(template.tokens))


# --- Running one operation as one viewer --------------------------------------------------------

DATA = "data"
NULL = "null"
SILENT = "silent"
UNAUTH = "UNAUTHENTICATED"
FORBID = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
CONFLICT = "CONFLICT"
BAD_INPUT = "BAD_USER_INPUT"

Trigger = Callable[[Scene], Awaitable[None]]
Variables = Callable[[Scene], dict[str, Any]]
Outcomes = tuple[str, str, str, str, str, str, str]  # in the order of VIEWERS


def _none(_: Scene) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Row:
    document: str
    expected: Outcomes
    variables: Variables = _none
    # For subscriptions without initial state: a change the allowed viewers must be sent.
    trigger: Trigger | None = None


def outcome_of(data: dict[str, Any] | None, errors: list[Any] | None, name: str) -> str:
    if errors:
        codes = sorted({str((e.extensions or {}).get("code")) for e in errors})
        return "+".join(codes)
    if data is None:
        return "no data"
    return NULL if data.get(name) is None else DATA


async def run_cell(scene: Scene, row: Row, viewer: str) -> str:
    kind, name = root_field(row.document)
    if kind != "subscription":
        result = await schema.execute(
            row.document, row.variables(scene), context_value=context_of(scene, viewer)
        )
        return outcome_of(result.data, result.errors, name)
    async with subscribed(scene, viewer, row.document, row.variables(scene)) as started:
        if isinstance(started, ExecutionResult):  # refused before it started
            return outcome_of(started.data, started.errors, name)
        return await _first_of(started, row, scene, name)


async def _first_of(subscription: Subscription, row: Row, scene: Scene, name: str) -> str:
    """The outcome of a subscription's first result: its initial state or error, or else the result
    of the trigger's event; `silent` when it dealt with the trigger's events and sent nothing."""
    if row.trigger is not None and not subscription.sent_anything():
        await row.trigger(scene)
        if await subscription.sent_nothing():
            return SILENT
    result = await subscription.result()
    return "ended" if result is None else outcome_of(result.data, result.errors, name)


# --- The matrix -------------------------------------------------------------------------------


def _id(name: str, variable: str = "id") -> Variables:
    return lambda s: {variable: s.gid(name)}


def _input(**values: Any) -> Variables:
    """`input` variables; string values naming scene records ("@primary") become their ids."""

    def build(s: Scene) -> dict[str, Any]:
        found = {
            k: s.gid(v[1:]) if isinstance(v, str) and v.startswith("@") else v for k, v in values.items()
        }
        return {"input": found}

    return build


async def _client_submits_mail(s: Scene) -> None:
    """C1 writes again: routed to P (their primary), seen by C1, P and the admin only."""
    await submit_request(s.deps, s.viewer("client"), Channel.MAIL, "Noch etwas.", None, None)


async def _admin_takes_over_client(s: Scene) -> None:
    """The admin makes themselves C1's primary: P (before) and the admin (after) may see it, Q not."""
    await change_primary_counsellor(s.deps, s.viewer("admin"), s.raw["client"], s.raw["admin"], "Vertretung")


def admin_only(anonymous: str = UNAUTH) -> Outcomes:
    return (anonymous, FORBID, FORBID, FORBID, FORBID, UNAUTH, DATA)


def staff_only() -> Outcomes:
    return (UNAUTH, FORBID, FORBID, DATA, DATA, UNAUTH, DATA)


def for_p_only() -> Outcomes:
    """Acting for counsellor P: P and admins; another counsellor may not act for P."""
    return (UNAUTH, FORBID, FORBID, DATA, FORBID, UNAUTH, DATA)


# Staff who see C1 (P, the admin); Q does not see C1, so C1's folder does not exist for Q.
FOLDER_WRITE: Outcomes = (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA)

# Outcomes in the order of VIEWERS:
# anonymous, client (C1), other_client (C2), counsellor (P), other_counsellor (Q), inactive (I), admin
MATRIX: dict[str, Row] = {
    # Queries
    "me": Row("{ me { role } }", (NULL, DATA, DATA, DATA, DATA, UNAUTH, DATA)),
    "node": Row(
        "query ($id: ID!) { node(id: $id) { id } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("client"),
    ),
    "client": Row(
        "query ($id: ID!) { client(id: $id) { id displayName } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("client"),
    ),
    "clients": Row("{ clients { totalCount edges { node { id } } } }", staff_only()),
    "counsellor": Row(
        "query ($id: ID!) { counsellor(id: $id) { id displayName } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, DATA, UNAUTH, DATA),
        _id("primary"),
    ),
    "counsellors": Row("{ counsellors { id } }", staff_only()),
    "request": Row(
        "query ($id: ID!) { request(id: $id) { id status } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("request"),
    ),
    "requests": Row(
        "{ requests { totalCount edges { node { id } } } }", (UNAUTH, DATA, DATA, DATA, DATA, UNAUTH, DATA)
    ),
    "availability": Row(
        "{ availability { chatAvailable mailAvailable primaryCounsellor { displayName } } }",
        (DATA, DATA, DATA, DATA, DATA, UNAUTH, DATA),
    ),
    "auditLog": Row("{ auditLog { totalCount } }", admin_only()),
    "settings": Row("{ settings { primaryChatWaitSeconds } }", staff_only()),
    "staff": Row("{ staff { totalCount edges { node { id primaryClientCount } } } }", staff_only()),
    # Mutations
    "login": Row(  # ignores any token sent with it, even an ended one
        "mutation ($email: String!, $pw: String!) { login(email: $email, password: $pw) { token } }",
        (DATA, DATA, DATA, DATA, DATA, DATA, DATA),
        lambda s: {"email": "clara@matrix.test", "pw": PASSWORD},
    ),
    "logout": Row("mutation { logout }", (UNAUTH, DATA, DATA, DATA, DATA, UNAUTH, DATA)),
    "registerClient": Row(  # ignores any token sent with it, even an ended one
        "mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token } }",
        (DATA, DATA, DATA, DATA, DATA, DATA, DATA),
        _input(displayName="Neu", email="newcomer@matrix.test", password=PASSWORD),
    ),
    "changePassword": Row(
        "mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { token } }",
        (UNAUTH, DATA, DATA, DATA, DATA, UNAUTH, DATA),
        lambda s: {"c": PASSWORD, "n": NEW_PASSWORD},
    ),
    "exportClientData": Row(
        "mutation ($id: ID!) { exportClientData(clientId: $id) }", admin_only(), _id("client")
    ),
    "eraseClient": Row(
        "mutation ($id: ID!) { eraseClient(clientId: $id) { id } }", admin_only(), _id("client")
    ),
    "createCounsellor": Row(
        "mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id } }",
        admin_only(),
        _input(email="neu@matrix.test", password=PASSWORD, displayName="Neu"),
    ),
    "acceptInvitation": Row(  # ignores any token sent with it; an unknown invitation token
        "mutation ($t: String!, $pw: String!) { acceptInvitation(token: $t, password: $pw) { token } }",
        (BAD_INPUT, BAD_INPUT, BAD_INPUT, BAD_INPUT, BAD_INPUT, BAD_INPUT, BAD_INPUT),
        lambda s: {"t": "no-such-token", "pw": PASSWORD},
    ),
    "inviteCounsellor": Row(  # P has a password: the admin is told so
        "mutation ($id: ID!) { inviteCounsellor(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, FORBID, FORBID, UNAUTH, CONFLICT),
        _id("primary"),
    ),
    "blockClient": Row("mutation ($id: ID!) { blockClient(id: $id) { id } }", admin_only(), _id("client")),
    "unblockClient": Row(  # C1 is not blocked
        "mutation ($id: ID!) { unblockClient(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, FORBID, FORBID, UNAUTH, CONFLICT),
        _id("client"),
    ),
    "deleteClient": Row("mutation ($id: ID!) { deleteClient(id: $id) { id } }", admin_only(), _id("client")),
    "restoreClient": Row(  # C1 is not deleted
        "mutation ($id: ID!) { restoreClient(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, FORBID, FORBID, UNAUTH, CONFLICT),
        _id("client"),
    ),
    "updateCounsellor": Row(
        "mutation ($input: UpdateCounsellorInput!) { updateCounsellor(input: $input) { id } }",
        admin_only(),
        _input(id="@primary", displayName="Paula R."),
    ),
    "createClient": Row(
        "mutation ($input: CreateClientInput!) { createClient(input: $input) { id } }",
        staff_only(),
        _input(displayName="Walk-in"),
    ),
    "inviteClient": Row(
        "mutation ($id: ID!) { inviteClient(id: $id) { id invitationStatus } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("invitee"),
    ),
    "updateClientProfile": Row(
        "mutation ($input: UpdateClientProfileInput!) { updateClientProfile(input: $input) { id } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _input(id="@client", language="de"),
    ),
    "changePrimaryCounsellor": Row(
        "mutation ($input: ChangePrimaryCounsellorInput!) { changePrimaryCounsellor(input: $input) { id } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _input(clientId="@client", counsellorId="@other", reason="Übergabe"),
    ),
    "setOnlineStatus": Row(
        "mutation ($id: ID) { setOnlineStatus(status: ONLINE, counsellorId: $id) { id } }",
        for_p_only(),
        _id("primary"),
    ),
    "setChatCapacity": Row(
        "mutation ($id: ID) { setChatCapacity(capacity: 2, counsellorId: $id) { id } }",
        for_p_only(),
        _id("primary"),
    ),
    "setMailAvailability": Row(
        "mutation ($input: SetMailAvailabilityInput!) { setMailAvailability(input: $input) { id } }",
        for_p_only(),
        _input(mode="BY_FREE_RESOURCES", resources=3, counsellorId="@primary"),
    ),
    "setAbsence": Row(
        "mutation ($input: SetAbsenceInput!) { setAbsence(input: $input) { id } }",
        for_p_only(),
        _input(absent=True, message="Im Urlaub", counsellorId="@primary"),
    ),
    "setFallbackCounsellor": Row(
        "mutation ($id: ID) { setFallbackCounsellor(counsellorId: $id) { primaryChatWaitSeconds } }",
        admin_only(),
        _id("primary"),
    ),
    "updateSettings": Row(
        "mutation { updateSettings(input: {primaryChatWaitSeconds: 5}) { primaryChatWaitSeconds } }",
        admin_only(),
    ),
    "heartbeat": Row("mutation { heartbeat { id } }", staff_only()),
    "acceptRequest": Row(  # only the holder accepts, not even an admin
        "mutation ($id: ID!) { acceptRequest(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, FORBID),
        _id("request"),
    ),
    "reassignClients": Row(
        "mutation ($input: ReassignClientsInput!) { reassignClients(input: $input) }",
        admin_only(),
        _input(fromCounsellorId="@primary", toCounsellorId="@other"),
    ),
    "submitRequest": Row(
        'mutation { submitRequest(input: {channel: MAIL, message: "Noch eine Frage."}) { id } }',
        (UNAUTH, DATA, DATA, FORBID, FORBID, UNAUTH, FORBID),
    ),
    "assignRequest": Row(
        "mutation ($id: ID!, $to: ID!) { assignRequest(id: $id, counsellorId: $to) { id } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        lambda s: {"id": s.gid("request"), "to": s.gid("other")},
    ),
    "closeRequest": Row(
        "mutation ($id: ID!) { closeRequest(id: $id) { id status } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("request"),
    ),
    "cancelRequest": Row(
        "mutation ($id: ID!) { cancelRequest(id: $id) { id status } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("queued"),
    ),
    # The client folder: staff who see C1 (P, admin) read and write; the author or an admin changes.
    "monitoringTopics": Row("{ monitoringTopics { id name children { id } } }", staff_only()),
    "monitoringStatistics": Row(
        'query { monitoringStatistics(from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z") '
        "{ month contacts suppressed } }",
        admin_only(),
    ),
    "addNote": Row(
        "mutation ($input: AddNoteInput!) { addNote(input: $input) { id text } }",
        FOLDER_WRITE,
        _input(clientId="@client", text="Neue Notiz."),
    ),
    "editNote": Row(
        "mutation ($input: EditNoteInput!) { editNote(input: $input) { id text } }",
        FOLDER_WRITE,
        _input(id="@note", text="Bearbeitet."),
    ),
    "deleteNote": Row("mutation ($id: ID!) { deleteNote(id: $id) }", FOLDER_WRITE, _id("note")),
    "addMonitoringTopic": Row(
        "mutation ($input: AddMonitoringTopicInput!) { addMonitoringTopic(input: $input) { id } }",
        admin_only(),
        _input(name="Cannabis", parentId="@category"),
    ),
    "updateMonitoringTopic": Row(
        "mutation ($input: UpdateMonitoringTopicInput!) { updateMonitoringTopic(input: $input) { id active } }",
        admin_only(),
        _input(id="@topic", active=False),
    ),
    "addMonitoringEntry": Row(
        "mutation ($input: AddMonitoringEntryInput!) { addMonitoringEntry(input: $input) { id } }",
        FOLDER_WRITE,
        lambda s: {
            "input": {
                "clientId": s.gid("client"),
                "contactAt": "2025-01-06T08:00:00Z",
                "channel": "MAIL",
                "durationMinutes": 20,
                "topicIds": [s.gid("topic")],
            }
        },
    ),
    "updateMonitoringEntry": Row(
        "mutation ($input: UpdateMonitoringEntryInput!) { updateMonitoringEntry(input: $input) { id } }",
        FOLDER_WRITE,
        _input(id="@entry", durationMinutes=30),
    ),
    "deleteMonitoringEntry": Row(
        "mutation ($id: ID!) { deleteMonitoringEntry(id: $id) }", FOLDER_WRITE, _id("entry")
    ),
    "uploadDocument": Row(  # staff who see the client
        "mutation ($id: ID!, $file: Upload!) { uploadDocument(clientId: $id, file: $file) { id } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        lambda s: {"id": s.gid("client"), "file": SampleUpload("Befund.png", samples.png())},
    ),
    "deleteDocument": Row(  # P uploaded it: P and admins
        "mutation ($id: ID!) { deleteDocument(id: $id) }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("document"),
    ),
    # Subscriptions
    "counsellorAvailabilityChanged": Row(
        "subscription ($id: ID) { counsellorAvailabilityChanged(counsellorId: $id) { id onlineStatus } }",
        staff_only(),
        _id("primary"),
    ),
    "availabilityChanged": Row(
        "subscription { availabilityChanged { chatAvailable mailAvailable } }",
        (DATA, DATA, DATA, DATA, DATA, UNAUTH, DATA),
    ),
    "requestAssigned": Row(  # only what is routed to the subscriber: P's new request, to P alone
        "subscription { requestAssigned { id } }",
        (UNAUTH, FORBID, FORBID, DATA, SILENT, UNAUTH, SILENT),
        trigger=_client_submits_mail,
    ),
    "primaryCounsellorChanged": Row(
        "subscription ($id: ID) { primaryCounsellorChanged(clientId: $id) { id reason } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("client"),
        trigger=_admin_takes_over_client,
    ),
    "requestUpdated": Row(
        "subscription ($id: ID) { requestUpdated(id: $id) { id status } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("request"),
    ),
}

# More rows for operations whose outcome depends on the record or argument: "<operation> (<case>)".
VARIANTS: dict[str, Row] = {
    "login (deactivated account)": Row(  # whatever token comes with it
        "mutation ($email: String!, $pw: String!) { login(email: $email, password: $pw) { token } }",
        (UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH, UNAUTH),
        lambda s: {"email": "ines.private@matrix.test", "pw": PASSWORD},
    ),
    "node (request)": Row(
        "query ($id: ID!) { node(id: $id) { id } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("request"),
    ),
    "node (counsellor)": Row(  # clients find only the counsellors on their requests and history
        "query ($id: ID!) { node(id: $id) { id } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, DATA, UNAUTH, DATA),
        _id("primary"),
    ),
    "client (of Q)": Row(
        "query ($id: ID!) { client(id: $id) { id } }",
        (UNAUTH, NOT_FOUND, DATA, NOT_FOUND, DATA, UNAUTH, DATA),
        _id("other_client"),
    ),
    "counsellor (Q)": Row(
        "query ($id: ID!) { counsellor(id: $id) { id } }",
        (UNAUTH, NOT_FOUND, DATA, DATA, DATA, UNAUTH, DATA),
        _id("other"),
    ),
    "request (of C2)": Row(
        "query ($id: ID!) { request(id: $id) { id } }",
        (UNAUTH, NOT_FOUND, DATA, NOT_FOUND, DATA, UNAUTH, DATA),
        _id("other_request"),
    ),
    "setOnlineStatus (self)": Row("mutation { setOnlineStatus(status: ONLINE) { id } }", staff_only()),
    "changePrimaryCounsellor (of C2)": Row(
        "mutation ($input: ChangePrimaryCounsellorInput!) { changePrimaryCounsellor(input: $input) { id } }",
        (UNAUTH, FORBID, FORBID, NOT_FOUND, DATA, UNAUTH, DATA),
        _input(clientId="@other_client", counsellorId="@primary"),
    ),
    "closeRequest (queued)": Row(
        "mutation ($id: ID!) { closeRequest(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, CONFLICT, NOT_FOUND, UNAUTH, CONFLICT),
        _id("queued"),
    ),
    "cancelRequest (assigned)": Row(  # a client cancels only a QUEUED request
        "mutation ($id: ID!) { cancelRequest(id: $id) { id } }",
        (UNAUTH, CONFLICT, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("request"),
    ),
    "editNote (the admin's)": Row(  # P sees C1, yet only the author or an admin changes a note
        "mutation ($input: EditNoteInput!) { editNote(input: $input) { id } }",
        (UNAUTH, FORBID, FORBID, FORBID, NOT_FOUND, UNAUTH, DATA),
        _input(id="@admin_note", text="Überschrieben."),
    ),
    "deleteNote (the admin's)": Row(
        "mutation ($id: ID!) { deleteNote(id: $id) }",
        (UNAUTH, FORBID, FORBID, FORBID, NOT_FOUND, UNAUTH, DATA),
        _id("admin_note"),
    ),
    "monitoringStatistics (by counsellor)": Row(
        'query { monitoringStatistics(from: "2025-01-01T00:00:00Z", to: "2025-02-01T00:00:00Z", '
        "byCounsellor: true) { counsellor { id } contacts } }",
        admin_only(),
    ),
    "addMonitoringEntry (a category is no option)": Row(  # permission first, then the input
        "mutation ($input: AddMonitoringEntryInput!) { addMonitoringEntry(input: $input) { id } }",
        (UNAUTH, FORBID, FORBID, "BAD_USER_INPUT", NOT_FOUND, UNAUTH, "BAD_USER_INPUT"),
        lambda s: {
            "input": {
                "clientId": s.gid("client"),
                "contactAt": "2025-01-06T08:00:00Z",
                "channel": "CHAT",
                "durationMinutes": 20,
                "topicIds": [s.gid("category")],
            }
        },
    ),
    "node (note)": Row(
        "query ($id: ID!) { node(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("note"),
    ),
    "node (monitoring entry)": Row(
        "query ($id: ID!) { node(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("entry"),
    ),
    "node (monitoring topic)": Row("query ($id: ID!) { node(id: $id) { id } }", staff_only(), _id("topic")),
    "client (notes)": Row(  # the folder is null, never an error, for whoever reaches C1 but may not read it
        "query ($id: ID!) { client(id: $id) { notes { totalCount } } }",
        (UNAUTH, DATA, NOT_FOUND, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("client"),
    ),
    "deleteDocument (uploaded by the admin)": Row(  # P sees the client, but did not upload it
        "mutation ($id: ID!) { deleteDocument(id: $id) }",
        (UNAUTH, FORBID, FORBID, FORBID, NOT_FOUND, UNAUTH, DATA),
        _id("admin_document"),
    ),
    "node (document)": Row(
        "query ($id: ID!) { node(id: $id) { id } }",
        (UNAUTH, FORBID, FORBID, DATA, NOT_FOUND, UNAUTH, DATA),
        _id("document"),
    ),
    "primaryCounsellorChanged (all)": Row(
        "subscription { primaryCounsellorChanged { id } }",
        (UNAUTH, FORBID, FORBID, DATA, SILENT, UNAUTH, DATA),
        trigger=_admin_takes_over_client,
    ),
    "requestUpdated (all)": Row(  # no initial state; a new request counts as a change
        "subscription { requestUpdated { id } }",
        (UNAUTH, DATA, SILENT, DATA, SILENT, UNAUTH, DATA),
        trigger=_client_submits_mail,
    ),
}

CELLS = [
    pytest.param(name, viewer, id=f"{name}-{viewer}") for name in [*MATRIX, *VARIANTS] for viewer in VIEWERS
]


def schema_operations() -> set[tuple[str, str]]:
    """(operation type, name) of every query, mutation and subscription the schema serves."""
    served = schema._schema
    roots = {
        "query": served.query_type,
        "mutation": served.mutation_type,
        "subscription": served.subscription_type,
    }
    return {(kind, name) for kind, root in roots.items() if root is not None for name in root.fields}


def test_the_matrix_has_a_row_for_every_operation_of_the_schema() -> None:
    rows = {root_field(row.document) for row in MATRIX.values()}
    assert {name for _, name in rows} == set(MATRIX), "a row runs another operation than its key"
    missing = sorted(schema_operations() - rows)
    assert not missing, f"operations without a row in the permission matrix: {missing}"
    assert rows == schema_operations()
    for case, row in VARIANTS.items():
        assert root_field(row.document)[1] == case.split(" ")[0], case
    assert all(len(row.expected) == len(VIEWERS) for row in [*MATRIX.values(), *VARIANTS.values()])


@pytest.mark.parametrize(("operation", "viewer"), CELLS)
async def test_permission_matrix(scene: Scene, operation: str, viewer: str) -> None:
    row = MATRIX.get(operation) or VARIANTS[operation]
    expected = row.expected[VIEWERS.index(viewer)]
    assert await run_cell(scene, row, viewer) == expected
