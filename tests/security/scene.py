"""The scene of the permission tests, and how they run an operation as one of its viewers.

The scene is built through the use cases: an admin; counsellor P with client C1 and the invitee;
counsellor Q with client C2; counsellor I, deactivated after their token was issued.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from graphql import FieldNode, OperationDefinitionNode, parse
from strawberry.types import ExecutionResult

from domain.events import Event, SessionsEnded
from domain.live import Topic, topics_of
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
from domain.use_cases.documents import upload_document
from domain.use_cases.monitoring import EntryInput, add_monitoring_entry, add_monitoring_topic
from domain.use_cases.notes import add_note
from domain.use_cases.requests import submit_request
from graph import ids
from graph.auth import TokenSigner
from graph.context import AppState, Context
from graph.schema import schema
from persistence.event_bus import EventBus
from tests.api.conftest import http_request
from tests.fakes import START
from tests.support import samples
from tests.support.samples import SampleUpload

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
    "note": "Note",
    "admin_note": "Note",
    "category": "MonitoringTopic",
    "topic": "MonitoringTopic",
    "entry": "MonitoringEntry",
    "document": "Document",
    "admin_document": "Document",
}


@dataclass
class Scene:
    """admin; counsellor P ("primary") of client C1 ("client"), holding C1's ASSIGNED mail request
    ("request"; C1 also has a QUEUED chat, "queued"; in C1's folder "document" by P and
    "admin_document" by the admin) and primary of the not yet invited client
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
    raw.update(await _folder(deps, as_admin, as_primary, raw["client"]))
    # C1's folder: a document P uploaded, and one the admin uploaded.
    note = SampleUpload("Gesprächsnotiz.txt", b"Termin am Dienstag.")
    raw["document"] = (await upload_document(deps, as_primary, client.client_id, note)).id
    letter = SampleUpload("Brief.pdf", samples.pdf())
    raw["admin_document"] = (await upload_document(deps, as_admin, client.client_id, letter)).id

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


async def _folder(deps: Deps, admin: Viewer, primary: Viewer, client_id: int) -> dict[str, int]:
    """C1's folder: a note of P ("note") and one of the admin ("admin_note"); the catalogue's category
    and option ("category", "topic"); a contact P documented ("entry")."""
    note = await add_note(deps, primary, client_id, "Notiz von P.")
    admin_note = await add_note(deps, admin, client_id, "Notiz der Leitung.")
    category, _ = await add_monitoring_topic(deps, admin, "Sucht", None)
    topic, _ = await add_monitoring_topic(deps, admin, "Alkohol", category.id)
    contact = EntryInput(
        START - timedelta(hours=1), Channel.CHAT, 45, [topic.id], "weitervermittelt", "Privat."
    )
    entry, _ = await add_monitoring_entry(deps, primary, client_id, contact)
    return {
        "note": note.id,
        "admin_note": admin_note.id,
        "category": category.id,
        "topic": topic.id,
        "entry": entry.id,
    }


SIGNER = TokenSigner("matrix-secret-key-of-enough-length!", 3600)

# A wait that would only end in a failed test: long enough for a busy machine. Tests wait for the
# events themselves, never for time to pass; this only stops a broken test from hanging.
GUARD_SECONDS = 30.0


class WatchedBus:
    """The test's event bus, telling when a subscription listens to it and when a subscription has
    dealt with every event published so far: a test that expects a subscription to send nothing
    first proves that the subscription saw the event. Every subscription listens to the mark's
    topic besides its own, so the mark reaches each in order after what was published before it."""

    # An event that concerns no account: every subscription passes over it without sending.
    MARK = SessionsEnded(counsellor_id=-1)
    MARK_TOPICS = topics_of(MARK)

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self._listeners = 0
        self._past_mark: set[int] = set()
        self._changed = asyncio.Condition()
        self._marking: set[asyncio.Task[None]] = set()

    def _with_mark(self, topics: Iterable[Topic] | None) -> list[Topic] | None:
        return None if topics is None else [*topics, *self.MARK_TOPICS]

    def _started(self) -> int:
        self._listeners += 1
        self._later(self._tell())
        return self._listeners

    @asynccontextmanager
    async def subscribe(self, topics: Iterable[Topic] | None = None) -> AsyncIterator[AsyncIterator[Event]]:
        async with self._bus.subscribe(self._with_mark(topics)) as events:
            yield _Watched(self, self._started(), events)

    def listen(self, topics: Iterable[Topic] | None, receiver: Any) -> Any:
        """A state feed (graph/feeds/): done with the mark once it has settled after taking it."""
        number = self._started()
        bus = self

        class Watched:
            def take(self, event: Event) -> None:
                receiver.take(event)
                if event == bus.MARK:
                    bus._later(bus._settled(number, receiver))

        return self._bus.listen(self._with_mark(topics), Watched())

    async def _settled(self, number: int, receiver: Any) -> None:
        await receiver.settled()
        await self.past(number)

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(work)
        self._marking.add(task)
        task.add_done_callback(self._marking.discard)

    async def _tell(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def past(self, number: int) -> None:
        async with self._changed:
            self._past_mark.add(number)
            self._changed.notify_all()

    @property
    def started(self) -> int:
        """How many subscriptions have started listening so far."""
        return self._listeners

    async def listening(self, count: int) -> None:
        """Until `count` subscriptions have started listening."""
        async with self._changed:
            await self._changed.wait_for(lambda: self._listeners >= count)

    async def dealt_with_everything(self, number: int) -> None:
        """Publish the mark after everything published so far; return once subscription `number`
        (counted from 1 in the order they started) has dealt with it, and so with all before it."""
        async with self._changed:
            self._past_mark.discard(number)
        await self._bus.publish(self.MARK)
        async with self._changed:
            await self._changed.wait_for(lambda: number in self._past_mark)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._bus, name)


class _Watched:
    """A subscription's events; done with the mark once it asks for the event after it."""

    def __init__(self, bus: WatchedBus, number: int, events: Any) -> None:
        self._bus = bus
        self._number = number
        self._events = events
        self._after_mark = False

    def listen(self, topic: Topic) -> None:
        self._events.listen(topic)

    def ignore(self, topic: Topic) -> None:
        self._events.ignore(topic)

    def __aiter__(self) -> _Watched:
        return self

    async def __anext__(self) -> Event:
        if self._after_mark:
            self._after_mark = False
            await self._bus.past(self._number)
        event: Event = await anext(self._events)
        self._after_mark = event == self._bus.MARK
        return event


def root_field(document: str) -> tuple[str, str]:
    """(operation type, the one root field) of a document."""
    (operation,) = parse(document).definitions
    assert isinstance(operation, OperationDefinitionNode)
    (selection,) = operation.selection_set.selections
    assert isinstance(selection, FieldNode)
    return operation.operation.value, selection.name.value


def context_of(scene: Scene, viewer: str) -> Context:
    return Context(scene.state, http_request(scene.tokens[viewer]))


async def query(scene: Scene, viewer: str, document: str, **variables: Any) -> dict[str, Any]:
    """The data of an operation that must succeed."""
    result = await schema.execute(document, variables, context_value=context_of(scene, viewer))
    assert not result.errors, [e.formatted for e in result.errors]
    assert result.data is not None
    return result.data


class Subscription:
    """A subscription under test, its next result always awaited."""

    def __init__(self, stream: AsyncGenerator[ExecutionResult, None], bus: WatchedBus) -> None:
        self._stream = stream
        self._bus = bus
        self._number = bus.started + 1  # subscriptions under test start one after another
        self._next = asyncio.ensure_future(anext(stream))

    async def start(self) -> None:
        """Until it listens to the bus or has sent something (such as an error)."""
        listening = asyncio.ensure_future(self._bus.listening(self._number))
        try:
            await asyncio.wait({self._next, listening}, timeout=GUARD_SECONDS, return_when="FIRST_COMPLETED")
        finally:
            listening.cancel()
        assert self._next.done() or listening.done(), "the subscription neither listened nor sent"

    def sent_anything(self) -> bool:
        """Whether its next result has arrived already (an initial state, or an error)."""
        return self._next.done()

    async def result(self) -> ExecutionResult | None:
        """Its next result; None when it ended."""
        try:
            found = await asyncio.wait_for(self._next, GUARD_SECONDS)
        except StopAsyncIteration:
            return None
        self._next = asyncio.ensure_future(anext(self._stream))
        return found

    async def payload(self, name: str) -> dict[str, Any]:
        """Its next result, which must be data."""
        result = await self.result()
        assert result is not None, "the subscription ended"
        assert not result.errors, [e.formatted for e in result.errors]
        assert result.data is not None
        found: dict[str, Any] = result.data[name]
        return found

    async def sent_nothing(self) -> bool:
        """Whether it sent nothing for the events published so far, once it has seen them all."""
        seen = asyncio.ensure_future(self._bus.dealt_with_everything(self._number))
        try:
            await asyncio.wait({self._next, seen}, timeout=GUARD_SECONDS, return_when="FIRST_COMPLETED")
        finally:
            seen.cancel()
        assert self._next.done() or seen.done(), "the subscription never dealt with the events"
        return not self._next.done()

    async def close(self) -> None:
        if not self._next.done():
            self._next.cancel()
        with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
            await self._next
        await self._stream.aclose()


@asynccontextmanager
async def subscribed(
    scene: Scene, viewer: str, document: str, variables: dict[str, Any] | None = None
) -> AsyncIterator[Subscription | ExecutionResult]:
    """A started subscription, or the result that refused it before it started."""
    context = context_of(scene, viewer)
    stream = await schema.subscribe(document, variables or {}, context_value=context)
    if isinstance(stream, ExecutionResult):
        yield stream
        return
    found = Subscription(stream, scene.state.bus)
    try:
        await found.start()
        yield found
    finally:
        await found.close()
