"""The permission matrix: every operation of the schema against every kind of viewer (routing.md,
"Who sees what" and "Errors"), as data, each cell run through the real schema on a real database.

A cell's expected outcome is `data` (no error, the operation's field is set), `null` (no error, the
field is null), `silent` (a subscription that neither fails nor sends anything, even after an event
it must not see) or the exact `extensions.code` of the error. The matrix must hold a row for every
query, mutation and subscription of the schema: a new operation without a row fails
`test_the_matrix_has_a_row_for_every_operation_of_the_schema`.

Every cell gets a fresh database holding the scene (a copy of one built once through the use cases),
so mutations never depend on each other. The module runs on SQLite only (the `backend` fixture is
narrowed below): permissions are decided in Python, the same on both databases, and ~400 fresh
databases would take minutes on PostgreSQL, where a database file cannot be copied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import shutil
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from graphql import FieldNode, GraphQLObjectType, OperationDefinitionNode, get_named_type, parse
from strawberry.types import ExecutionResult

from domain.events import Event
from domain.model import (
    Channel,
    MailAvailability,
    RequestStatus,
    Role,
    RoutingReason,
    StaffRole,
    Viewer,
)
from domain.use_cases import Deps
from domain.use_cases.accounts import register_client
from domain.use_cases.clients import ClientProfile, change_primary_counsellor, create_client
from domain.use_cases.counsellors import CounsellorUpdate, NewCounsellor, add_counsellor, update_counsellor
from domain.use_cases.requests import assign_request, submit_request
from domain.use_cases.routing import Dispatcher
from graph import ids
from graph.auth import TokenSigner
from graph.context import AppState, Context
from graph.schema import schema
from persistence.crypto import TextCipher
from persistence.database import Engines, create_engines
from persistence.event_bus import EventBus
from persistence.migrate import migrate
from persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.api.conftest import http_request
from tests.conftest import GENEROUS_LIMITS
from tests.fakes import FixedClock, PlainHasher, settling
from tests.services import SQLITE, Backend


@pytest.fixture(params=[pytest.param(SQLITE, id="sqlite")])
def backend(request: pytest.FixtureRequest) -> Backend:
    """SQLite only, for the whole module: one fresh database per cell must stay fast (see above)."""
    return request.param  # type: ignore[no-any-return]


# --- The scene --------------------------------------------------------------------------------

PASSWORD = "matrix-password-1"
NEW_PASSWORD = "matrix-password-2"

VIEWERS = ("anonymous", "client", "other_client", "counsellor", "other_counsellor", "inactive", "admin")

# Personal data of the primary counsellor P that no client may ever read.
P_EMAIL = "paula.private@matrix.test"
P_FIRST = "Paulina"
P_LAST = "Privatnachname"

KINDS = {
    "admin": "Counsellor",
    "primary": "Counsellor",
    "other": "Counsellor",
    "inactive": "Counsellor",
    "client": "Client",
    "other_client": "Client",
    "invitee": "Client",
    "request": "Request",
    "queued": "Request",
    "other_request": "Request",
}


@dataclass
class Scene:
    """admin; counsellor P ("primary") of client C1 ("client"), holding C1's ASSIGNED mail request
    ("request"; C1 also has a QUEUED chat, "queued") and primary of the not yet invited client
    "invitee"; counsellor Q ("other"), primary of client C2 ("other_client") and holding C2's
    request ("other_request"); counsellor I ("inactive"), deactivated after their token was issued.
    """

    deps: Deps
    state: AppState
    raw: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str | None] = field(default_factory=dict)

    def gid(self, name: str) -> str:
        """The global id of one of the scene's records."""
        return ids.encode(KINDS[name], self.raw[name])

    def viewer(self, name: str) -> Viewer:
        """The domain viewer of a scene account (for triggers that act through the use cases)."""
        if KINDS[name] == "Client":
            return Viewer(role=Role.CLIENT, client_id=self.raw[name])
        role = Role.ADMIN if name == "admin" else Role.COUNSELLOR
        return Viewer(role=role, counsellor_id=self.raw[name])


async def build_scene(deps: Deps, signer: TokenSigner) -> tuple[dict[str, int], dict[str, str | None]]:
    """Create the scene through the use cases; its records' row ids and each viewer's token."""
    raw: dict[str, int] = {}
    admin = await add_counsellor(
        deps, NewCounsellor("admin@matrix.test", PASSWORD, "Admin", role=StaffRole.ADMIN)
    )
    primary = await add_counsellor(
        deps,
        NewCounsellor(
            P_EMAIL,
            PASSWORD,
            "Paula",
            first_name=P_FIRST,
            last_name=P_LAST,
            mail_availability=MailAvailability.UNLIMITED,
        ),
    )
    other = await add_counsellor(
        deps, NewCounsellor("quentin.private@matrix.test", PASSWORD, "Quentin", "Quirin", "Quast")
    )
    inactive = await add_counsellor(
        deps, NewCounsellor("ines.private@matrix.test", PASSWORD, "Ines", "Inge", "Inaktiv")
    )
    raw.update(admin=admin.id, primary=primary.id, other=other.id, inactive=inactive.id)
    as_admin = Viewer(role=Role.ADMIN, counsellor_id=admin.id)

    client = await register_client(deps, "Clara", "clara@matrix.test", PASSWORD, None)
    assert client.client_id is not None
    raw["client"] = client.client_id
    request = await submit_request(deps, client, Channel.MAIL, "Ich brauche Hilfe.", "Hallo", None)
    # P is the only counsellor free for mail: P takes it and becomes C1's primary.
    assert request.status is RequestStatus.ASSIGNED and request.counsellor_id == primary.id
    assert request.routing_reason is RoutingReason.FIRST_REQUEST
    queued = await submit_request(deps, client, Channel.CHAT, "Bitte im Chat.", None, None)
    assert queued.status is RequestStatus.QUEUED  # nobody is online
    raw.update(request=request.id, queued=queued.id)

    other_client = await register_client(deps, "Chris", "chris@matrix.test", PASSWORD, None)
    assert other_client.client_id is not None
    raw["other_client"] = other_client.client_id
    await change_primary_counsellor(deps, as_admin, other_client.client_id, other.id, "Zuständig")
    other_request = await submit_request(deps, other_client, Channel.MAIL, "Eine Frage.", None, None)
    assert other_request.counsellor_id == other.id  # the relationship beats mail NONE
    raw["other_request"] = other_request.id

    as_primary = Viewer(role=Role.COUNSELLOR, counsellor_id=primary.id)
    profile = ClientProfile(display_name="Ida", email="ida@matrix.test")
    raw["invitee"] = (await create_client(deps, as_primary, profile, None)).id

    tokens: dict[str, str | None] = {"anonymous": None}
    for kind, viewer in (
        ("client", client),
        ("other_client", other_client),
        ("counsellor", as_primary),
        ("other_counsellor", Viewer(role=Role.COUNSELLOR, counsellor_id=other.id)),
        ("inactive", Viewer(role=Role.COUNSELLOR, counsellor_id=inactive.id)),
        ("admin", as_admin),
    ):
        tokens[kind], _ = signer.issue(viewer)
    # Deactivation ends every session of I: the token issued above must read as UNAUTHENTICATED.
    await update_counsellor(deps, as_admin, CounsellorUpdate(inactive.id, active=False))
    return raw, tokens


# Every cell starts from a copy of one database holding the scene: building it ~400 times through
# the use cases (and migrating ~400 databases) would take minutes. Request texts are encrypted at
# rest, so every cell reads them with the key the scene was written with.
DATA_KEY = secrets.token_bytes(32)
SIGNER = TokenSigner("matrix-secret-key-of-enough-length!", 3600)


@dataclass(frozen=True)
class Template:
    path: Path
    raw: dict[str, int]
    tokens: dict[str, str | None]


def _deps(engines: Engines, bus: EventBus, clock: FixedClock) -> Deps:
    """As tests/conftest.py builds them, with the scene's data key."""
    factory = SqlUnitOfWorkFactory(engines, bus.publish, TextCipher(DATA_KEY))
    found = Deps(uow=factory, clock=clock, hasher=PlainHasher(), limits=GENEROUS_LIMITS)
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


class WatchedBus:
    """The cell's event bus, telling when a subscription has started listening to it."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.listening = asyncio.Event()

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[AsyncIterator[Event]]:
        async with self._bus.subscribe() as events:
            self.listening.set()
            yield events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


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

START_SECONDS = 5.0  # until a subscription fails or listens to the bus (generous: CI may be busy)
QUIET_SECONDS = 0.3  # once listening, its initial state (if any) arrives well within this
EVENT_SECONDS = 1.0  # after the trigger, the event reaches an in-process subscriber well within this

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


def root_field(document: str) -> tuple[str, str]:
    """(operation type, the one root field) of a document."""
    (operation,) = parse(document).definitions
    assert isinstance(operation, OperationDefinitionNode)
    (selection,) = operation.selection_set.selections
    assert isinstance(selection, FieldNode)
    return operation.operation.value, selection.name.value


def outcome_of(data: dict[str, Any] | None, errors: list[Any] | None, name: str) -> str:
    if errors:
        codes = sorted({str((e.extensions or {}).get("code")) for e in errors})
        return "+".join(codes)
    if data is None:
        return "no data"
    return NULL if data.get(name) is None else DATA


async def run_cell(scene: Scene, row: Row, viewer: str) -> str:
    kind, name = root_field(row.document)
    context = Context(scene.state, http_request(scene.tokens[viewer]))
    if kind != "subscription":
        result = await schema.execute(row.document, row.variables(scene), context_value=context)
        return outcome_of(result.data, result.errors, name)
    stream = await schema.subscribe(row.document, row.variables(scene), context_value=context)
    if isinstance(stream, ExecutionResult):  # refused before it started
        return outcome_of(stream.data, stream.errors, name)
    return await _first_of(scene, row, stream, name)


async def _first_of(scene: Scene, row: Row, stream: AsyncGenerator[Any, None], name: str) -> str:
    """The outcome of a subscription's first result: its initial state, its error, or the result
    of the trigger's event; `silent` when nothing arrives."""
    first = asyncio.ensure_future(anext(stream))
    listening = asyncio.ensure_future(scene.state.bus.listening.wait())
    try:
        await asyncio.wait({first, listening}, timeout=START_SECONDS, return_when=asyncio.FIRST_COMPLETED)
        done, _ = await asyncio.wait({first}, timeout=QUIET_SECONDS)
        if not done and not scene.state.bus.listening.is_set():
            return "neither failed nor listened"
        if not done and row.trigger is not None:
            await row.trigger(scene)
            done, _ = await asyncio.wait({first}, timeout=EVENT_SECONDS)
        if not done:
            return SILENT
        try:
            result = first.result()
        except StopAsyncIteration:
            return "ended"
        return outcome_of(result.data, result.errors, name)
    finally:
        listening.cancel()
        if not first.done():
            first.cancel()
            with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                await first
        await stream.aclose()


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


# --- Field-level rules ------------------------------------------------------------------------

PRESENCE_FIELDS = {"id", "displayName", "onlineStatus", "absent", "absenceMessage"}


def all_fields(type_name: str) -> str:
    """A selection of every field of an object type (objects as `{ __typename }`)."""
    found = schema._schema.get_type(type_name)
    assert isinstance(found, GraphQLObjectType)
    parts = []
    for name, definition in found.fields.items():
        nested = isinstance(get_named_type(definition.type), GraphQLObjectType)
        parts.append(f"{name} {{ __typename }}" if nested else name)
    return " ".join(parts)


async def query(scene: Scene, viewer: str, document: str, **variables: Any) -> dict[str, Any]:
    context = Context(scene.state, http_request(scene.tokens[viewer]))
    result = await schema.execute(document, variables, context_value=context)
    assert not result.errors, [e.formatted for e in result.errors]
    assert result.data is not None
    return result.data


async def error_code(scene: Scene, viewer: str, document: str, **variables: Any) -> str:
    context = Context(scene.state, http_request(scene.tokens[viewer]))
    result = await schema.execute(document, variables, context_value=context)
    assert result.errors, result.data
    return outcome_of(result.data, result.errors, root_field(document)[1])


def _assert_presence_only(counsellor: dict[str, Any]) -> None:
    personal = {k: v for k, v in counsellor.items() if k not in PRESENCE_FIELDS and v is not None}
    assert not personal, f"a client reads more than the presence fields: {personal}"
    assert counsellor["displayName"] == "Paula"


def _assert_nothing_personal(data: object) -> None:
    text = json.dumps(data)
    for secret in (P_EMAIL, P_FIRST, P_LAST):
        assert secret not in text, f"{secret!r} reached a client"


async def test_a_client_reads_only_the_presence_fields_of_a_counsellor(scene: Scene) -> None:
    fields = all_fields("Counsellor")
    p = scene.gid("primary")
    reads = await query(
        scene,
        "client",
        f"""query ($p: ID!, $r: ID!) {{
          counsellor(id: $p) {{ {fields} }}
          node(id: $p) {{ ... on Counsellor {{ {fields} }} }}
          request(id: $r) {{ counsellor {{ {fields} }} }}
          me {{ client {{
            primaryCounsellor {{ {fields} }}
            primaryCounsellorHistory {{ newCounsellor {{ {fields} }} }}
            requests {{ edges {{ node {{ counsellor {{ {fields} }} }} }} }}
          }} }}
        }}""",
        p=p,
        r=scene.gid("request"),
    )
    client = reads["me"]["client"]
    seen = [
        reads["counsellor"],
        reads["node"],
        reads["request"]["counsellor"],
        client["primaryCounsellor"],
        client["primaryCounsellorHistory"][0]["newCounsellor"],
        *[e["node"]["counsellor"] for e in client["requests"]["edges"] if e["node"]["counsellor"]],
    ]
    assert len(seen) == 6
    for counsellor in seen:
        _assert_presence_only(counsellor)
    _assert_nothing_personal(reads)

    # The same over a subscription's initial state.
    context = Context(scene.state, http_request(scene.tokens["client"]))
    stream = await schema.subscribe(
        f"subscription ($r: ID) {{ requestUpdated(id: $r) {{ counsellor {{ {fields} }} }} }}",
        {"r": scene.gid("request")},
        context_value=context,
    )
    assert not isinstance(stream, ExecutionResult)
    try:
        first = await asyncio.wait_for(anext(stream), timeout=2)
    finally:
        await stream.aclose()
    assert not first.errors and first.data is not None
    _assert_presence_only(first.data["requestUpdated"]["counsellor"])
    _assert_nothing_personal(first.data)

    # Staff read it all (the rule is about clients, not a field that is always empty).
    colleague = await query(
        scene, "other_counsellor", f"query ($p: ID!) {{ counsellor(id: $p) {{ {fields} }} }}", p=p
    )
    found = colleague["counsellor"]
    assert (found["email"], found["firstName"], found["lastName"]) == (P_EMAIL, P_FIRST, P_LAST)
    assert (found["role"], found["chatCapacity"]) == ("COUNSELLOR", 1)


async def test_counsellor_presence_carries_nothing_personal(scene: Scene) -> None:
    presence = schema._schema.get_type("CounsellorPresence")
    assert isinstance(presence, GraphQLObjectType)
    assert set(presence.fields) == {
        "counsellorId",
        "displayName",
        "onlineStatus",
        "chatAvailable",
        "mailAvailable",
        "absent",
        "absenceMessage",
    }
    document = f"{{ availability {{ primaryCounsellor {{ {all_fields('CounsellorPresence')} }} }} }}"
    mine = (await query(scene, "client", document))["availability"]["primaryCounsellor"]
    assert mine["counsellorId"] == scene.gid("primary")
    assert mine["displayName"] == "Paula"
    assert mine["mailAvailable"] is True  # P takes C1's mail whatever their capacity
    _assert_nothing_personal(mine)
    assert (await query(scene, "anonymous", document))["availability"]["primaryCounsellor"] is None
    theirs = (await query(scene, "other_client", document))["availability"]["primaryCounsellor"]
    assert theirs["counsellorId"] == scene.gid("other")  # their own primary, never another's


async def test_another_counsellor_sees_none_of_the_primarys_clients(scene: Scene) -> None:
    document = """query ($p: ID!) {
      counsellor(id: $p) { primaryClients { totalCount edges { node { id } } } }
      clients(filter: {primaryCounsellorId: $p}) { totalCount edges { node { id } } }
    }"""
    p = scene.gid("primary")

    def listed(data: dict[str, Any]) -> tuple[set[str], set[str]]:
        nested = data["counsellor"]["primaryClients"]
        overview = data["clients"]
        assert nested["totalCount"] == len(nested["edges"])
        assert overview["totalCount"] == len(overview["edges"])
        return {e["node"]["id"] for e in nested["edges"]}, {e["node"]["id"] for e in overview["edges"]}

    p_clients = {scene.gid("client"), scene.gid("invitee")}
    assert listed(await query(scene, "admin", document, p=p)) == (p_clients, p_clients)
    assert listed(await query(scene, "counsellor", document, p=p)) == (p_clients, p_clients)
    assert listed(await query(scene, "other_counsellor", document, p=p)) == (set(), set())

    # Once Q holds a request of C1, Q may see C1 (and only C1) among P's clients.
    await assign_request(scene.deps, scene.viewer("admin"), scene.raw["request"], scene.raw["other"])
    only_c1 = {scene.gid("client")}
    assert listed(await query(scene, "other_counsellor", document, p=p)) == (only_c1, only_c1)


async def test_a_client_sees_neither_reason_nor_changed_by_in_their_history(scene: Scene) -> None:
    note = "Interne Notiz: Klientin hat sich beschwert"
    await change_primary_counsellor(
        scene.deps, scene.viewer("admin"), scene.raw["client"], scene.raw["other"], note
    )
    document = """query ($c: ID!) { client(id: $c) { primaryCounsellorHistory {
      source reason changedBy { id email } previousCounsellor { id email } newCounsellor { id email }
    } } }"""
    c = scene.gid("client")
    own = (await query(scene, "client", document, c=c))["client"]["primaryCounsellorHistory"]
    assert [(h["source"], h["newCounsellor"]["id"]) for h in own] == [
        ("AUTOMATIC", scene.gid("primary")),
        ("MANUAL", scene.gid("other")),
    ]
    for entry in own:
        assert entry["reason"] is None and entry["changedBy"] is None
        for counsellor in (entry["previousCounsellor"], entry["newCounsellor"]):
            assert counsellor is None or counsellor["email"] is None
    assert note not in json.dumps(own)

    staff = (await query(scene, "admin", document, c=c))["client"]["primaryCounsellorHistory"]
    assert staff[1]["reason"] == note
    assert staff[1]["changedBy"] == {"id": scene.gid("admin"), "email": "admin@matrix.test"}


async def test_a_clients_requests_are_invisible_to_another_counsellor(scene: Scene) -> None:
    for name in ("request", "queued"):
        for document in (
            "query ($id: ID!) { request(id: $id) { id message } }",
            "query ($id: ID!) { node(id: $id) { id } }",
        ):
            assert await error_code(scene, "other_counsellor", document, id=scene.gid(name)) == NOT_FOUND
    listing = """query ($p: ID) {
      all: requests { totalCount edges { node { id } } }
      ofP: requests(filter: {counsellorId: $p}) { totalCount edges { node { id } } }
    }"""
    data = await query(scene, "other_counsellor", listing, p=scene.gid("primary"))
    assert [e["node"]["id"] for e in data["all"]["edges"]] == [scene.gid("other_request")]
    assert data["all"]["totalCount"] == 1
    assert data["ofP"] == {"totalCount": 0, "edges": []}

    c1_requests = {scene.gid("request"), scene.gid("queued")}
    mine = await query(scene, "client", listing, p=None)
    assert {e["node"]["id"] for e in mine["all"]["edges"]} == c1_requests
    theirs = await query(scene, "other_client", listing, p=None)
    assert {e["node"]["id"] for e in theirs["all"]["edges"]} == {scene.gid("other_request")}


async def test_the_routing_trace_is_for_staff_only(scene: Scene) -> None:
    document = """query ($id: ID!) {
      request(id: $id) { routingTrace { outcome } }
      requests { edges { node { routingTrace { outcome } } } }
    }"""
    r = scene.gid("request")
    own = await query(scene, "client", document, id=r)
    assert own["request"]["routingTrace"] is None
    assert all(e["node"]["routingTrace"] is None for e in own["requests"]["edges"])
    staff = await query(scene, "counsellor", document, id=r)
    assert staff["request"]["routingTrace"], "staff read the routing decision"
