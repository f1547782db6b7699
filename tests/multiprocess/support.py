"""Helpers for the scale-out tests: server processes, GraphQL over HTTP and websockets, database reads.

Two real processes (`python -m graph.main`) share one PostgreSQL database and one Redis bus. The
tests talk to them only over sockets: HTTP with httpx, graphql-transport-ws with gql's
WebsocketsTransport. What the processes did is checked through the API and by reading the
database directly with SQLAlchemy (the database is the truth).
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from gql import Client
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.services import POSTGRES_URL, REDIS_URL, REQUIRED
from tests.support.feeds import Feed, NoResult, subscribed
from tests.support.server import ServerProcess
from tests.support.waiting import eventually

__all__ = ["Feed", "subscribed"]  # re-exported for the scale-out tests

# For a module: skipped when the services are unset, unless STAMM_REQUIRE_SERVICES=1 (then the
# fixtures fail through tests.services.require_postgres).
needs_services = [
    pytest.mark.postgres,
    pytest.mark.redis,
    # Two processes of up to 30 connections each: PostgreSQL to themselves (tests/support/exclusive.py).
    pytest.mark.exclusive,
    pytest.mark.skipif(
        not (POSTGRES_URL and REDIS_URL) and not REQUIRED,
        reason="TEST_DATABASE_URL and TEST_REDIS_URL are unset",
    ),
]

ADMIN_EMAIL = "admin@multiprocess.test"
ADMIN_PASSWORD = "admin-password-mp-1"
PASSWORD = "client-password-1"
SECRET_KEY = "multiprocess-secret-key-" + "m" * 40
# Request texts are encrypted at rest: every process of a deployment needs the same key.
DATA_KEY = base64.b64encode(bytes(range(32))).decode()
# The tests register and submit far more from 127.0.0.1 than one person would.
GENEROUS_LIMITS = {
    "STAMM_LIMIT_REGISTRATIONS_PER_ADDRESS_PER_HOUR": "10000",
    "STAMM_LIMIT_SUBMITS_PER_HOUR": "10000",
    "STAMM_LIMIT_OPEN_REQUESTS_PER_CLIENT": "1000",
}


def unique_email(prefix: str) -> str:
    slug = "".join(ch for ch in prefix.lower() if ch.isalnum()) or "user"
    return f"{slug}-{uuid.uuid4().hex[:10]}@multiprocess.test"


def row_id(global_id: str, kind: str) -> int:
    """The database id behind a global id (base64 of "Kind:id", see graph/ids.py)."""
    padded = global_id + "=" * (-len(global_id) % 4)
    found, _, raw = base64.urlsafe_b64decode(padded).decode().partition(":")
    assert found == kind, f"{global_id} is a {found}, not a {kind}"
    return int(raw)


def global_id(kind: str, row: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{row}".encode()).decode().rstrip("=")


# Server processes -------------------------------------------------------------------------------

# One `python -m graph.main` process of a deployment (tests.support.server starts and stops it).
Node = ServerProcess


def node(name: str, database_url: str, broadcast_url: str, folder: Path) -> Node:
    """A process of the test deployment; not started yet."""
    settings = {
        "DATABASE_URL": database_url,
        "BROADCAST_URL": broadcast_url,
        "STAMM_SECRET_KEY": SECRET_KEY,
        "STAMM_DATA_KEY": DATA_KEY,
        "STAMM_ADMIN_EMAIL": ADMIN_EMAIL,
        "STAMM_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "STAMM_DEMO": "0",
        "STAMM_MIGRATE": "1",
        # Long: dispatching after a change must come from the change (and its event), not a sweep.
        "STAMM_SWEEP_SECONDS": "600",
        "STAMM_DATA_DIR": str(folder / f"data-{name}"),
        **GENEROUS_LIMITS,
    }
    return Node(name, settings, folder / f"{name}.log")


@dataclass
class Cluster:
    """Two processes of one deployment, and the database they share."""

    a: Node
    b: Node
    database_url: str

    @property
    def nodes(self) -> tuple[Node, Node]:
        return (self.a, self.b)

    def node(self, index: int) -> Node:
        """A for even numbers, B for odd ones (to alternate between the processes)."""
        return self.nodes[index % 2]

    def assert_alive(self) -> None:
        for node in self.nodes:
            assert node.alive(), f"process {node.name} died\n{node.describe()}"


# GraphQL over HTTP ------------------------------------------------------------------------------


class GraphQLErrors(AssertionError):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"GraphQL errors: {errors}")
        self.errors = errors

    @property
    def codes(self) -> list[str | None]:
        return [e.get("extensions", {}).get("code") for e in self.errors]


class Api:
    """GraphQL over HTTP to either process, through one shared httpx client."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        # SERVICE_UNAVAILABLE answers that were retried (a loaded machine sheds load that way).
        self.retried: Counter[str] = Counter()

    async def call(self, node: Node, token: str | None, query: str, **variables: Any) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        body: dict[str, Any] = {"query": query, "variables": variables}
        response = await self.http.post(node.graphql_url, json=body, headers=headers)
        try:
            payload = response.json()
        except ValueError:
            raise AssertionError(
                f"{node.name} answered {response.status_code}: {response.text[:500]}"
            ) from None
        if payload.get("errors"):
            raise GraphQLErrors(payload["errors"])
        assert response.status_code == 200, f"{node.name} answered {response.status_code}: {payload}"
        data: dict[str, Any] = payload["data"]
        return data

    async def call_retrying(
        self, node: Node, token: str | None, query: str, attempts: int = 6, **variables: Any
    ) -> dict[str, Any]:
        """`call`, retried as a client would on SERVICE_UNAVAILABLE or a dropped connection.

        Only for operations that are safe to repeat (a submit with an idempotency key).
        """
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                return await self.call(node, token, query, **variables)
            except GraphQLErrors as exc:
                if exc.codes != ["SERVICE_UNAVAILABLE"] or last:
                    raise
                self.retried[f"{node.name} SERVICE_UNAVAILABLE"] += 1
            except httpx.TransportError as exc:
                if last:
                    raise
                self.retried[f"{node.name} {type(exc).__name__}"] += 1
            await asyncio.sleep(0.25 * (attempt + 1))
        raise AssertionError("unreachable")

    async def login(self, node: Node, email: str, password: str) -> str:
        data = await self.call(
            node,
            None,
            "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
            e=email,
            p=password,
        )
        token: str = data["login"]["token"]
        return token

    async def admin(self, node: Node) -> Staff:
        token = await self.login(node, ADMIN_EMAIL, ADMIN_PASSWORD)
        data = await self.call(node, token, "{ me { counsellor { id } } }")
        return Staff(data["me"]["counsellor"]["id"], ADMIN_EMAIL, token)

    async def create_counsellor(
        self, node: Node, admin: Staff, name: str, *, capacity: int = 1, online: bool = False
    ) -> Staff:
        email = unique_email(name)
        data = await self.call(
            node,
            admin.token,
            "mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id chatCapacity } }",
            input={"email": email, "password": PASSWORD, "displayName": name, "chatCapacity": capacity},
        )
        created = data["createCounsellor"]
        assert created["chatCapacity"] == capacity
        if online:
            await self.set_online(node, admin, created["id"], "ONLINE")
        return Staff(created["id"], email, await self.login(node, email, PASSWORD))

    async def set_online(self, node: Node, actor: Staff, counsellor_id: str, status: str) -> None:
        data = await self.call(
            node,
            actor.token,
            """mutation ($s: OnlineStatus!, $id: ID) {
                 setOnlineStatus(status: $s, counsellorId: $id) { id onlineStatus }
               }""",
            s=status,
            id=counsellor_id,
        )
        assert data["setOnlineStatus"]["onlineStatus"] == status

    async def register_client(self, node: Node, name: str, attempts: int = 6) -> ClientAccount:
        """registerClient, retried on SERVICE_UNAVAILABLE (signing in if a lost answer had gone through)."""
        email = unique_email(name)
        query = """mutation ($input: RegisterClientInput!) {
                     registerClient(input: $input) { token me { client { id } } }
                   }"""
        for attempt in range(attempts):
            try:
                data = await self.call(
                    node, None, query, input={"displayName": name, "email": email, "password": PASSWORD}
                )
                session = data["registerClient"]
                return ClientAccount(session["me"]["client"]["id"], email, session["token"])
            except GraphQLErrors as exc:
                if exc.codes == ["CONFLICT"] and attempt > 0:
                    break
                if exc.codes != ["SERVICE_UNAVAILABLE"] or attempt == attempts - 1:
                    raise
                self.retried[f"{node.name} SERVICE_UNAVAILABLE"] += 1
                await asyncio.sleep(0.25 * (attempt + 1))
        token = await self.login(node, email, PASSWORD)
        data = await self.call(node, token, "{ me { client { id } } }")
        return ClientAccount(data["me"]["client"]["id"], email, token)

    async def register_clients(self, cluster: Cluster, count: int, prefix: str) -> list[ClientAccount]:
        """`count` clients, registered on both processes in turn, a few at a time (argon2 is slow)."""
        gate = asyncio.Semaphore(8)

        async def one(i: int) -> ClientAccount:
            async with gate:
                return await self.register_client(cluster.node(i), f"{prefix}{i:03d}")

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def submit(
        self, node: Node, client: ClientAccount, channel: str = "CHAT", key: str | None = None
    ) -> dict[str, Any]:
        """submitRequest; with an idempotency `key` retried on SERVICE_UNAVAILABLE."""
        query = """mutation ($input: SubmitRequestInput!) {
                     submitRequest(input: $input) { id status channel routingReason counsellor { id } }
                   }"""
        submission = {"channel": channel, "message": f"Hallo von {client.email}", "idempotencyKey": key}
        if key is None:
            data = await self.call(node, client.token, query, input=submission)
        else:
            data = await self.call_retrying(node, client.token, query, input=submission)
        request: dict[str, Any] = data["submitRequest"]
        return request

    async def close(self, node: Node, actor: Staff, request_id: str) -> dict[str, Any]:
        data = await self.call(
            node, actor.token, "mutation ($id: ID!) { closeRequest(id: $id) { id status } }", id=request_id
        )
        closed: dict[str, Any] = data["closeRequest"]
        assert closed["status"] == "CLOSED", closed
        return closed

    async def quiesce(self, node: Node, admin: Staff) -> None:
        """Leave nothing routable behind: every counsellor OFFLINE, every queued request cancelled.

        The module's tests share one database, and routing is global state.
        """
        data = await self.call(node, admin.token, "{ counsellors { id onlineStatus } }")
        await asyncio.gather(
            *(
                self.set_online(node, admin, c["id"], "OFFLINE")
                for c in data["counsellors"]
                if c["onlineStatus"] != "OFFLINE"
            )
        )
        cancel = "mutation ($id: ID!) { cancelRequest(id: $id) { id } }"
        gate = asyncio.Semaphore(10)

        async def one(request_id: str) -> None:
            async with gate:
                await self.call(node, admin.token, cancel, id=request_id)

        while True:
            page = await self.call(
                node,
                admin.token,
                "{ requests(filter: {status: QUEUED}, first: 100) { edges { node { id } } } }",
            )
            ids = [edge["node"]["id"] for edge in page["requests"]["edges"]]
            if not ids:
                return
            await asyncio.gather(*(one(i) for i in ids))


@dataclass(frozen=True)
class Staff:
    id: str
    email: str
    token: str


@dataclass(frozen=True)
class ClientAccount:
    id: str
    email: str
    token: str


# Subscriptions ----------------------------------------------------------------------------------


def ws_client(node: Node, token: str | None) -> Client:
    """gql over graphql-transport-ws; the token goes into the connection_init payload."""
    payload = {"Authorization": f"Bearer {token}"} if token else {}
    return Client(
        transport=WebsocketsTransport(
            url=node.ws_url,
            init_payload=payload,
            subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],
            close_timeout=2,
        )
    )


async def until_listening(
    feed: Feed,
    probe: Callable[[], Awaitable[object]],
    is_probe: Callable[[dict[str, Any]], bool],
    attempts: int = 20,
    wait: float = 0.5,
) -> None:
    """For subscriptions without an initial state: repeat `probe` until its event arrives.

    The server gives no sign when such a subscription listens on its bus; an event caused by a
    probe on the *other* process proves that the subscriber on this one is listening.
    """
    for _ in range(attempts):
        await probe()
        try:
            await feed.wait_for(is_probe, within=wait)
            return
        except NoResult:
            continue
    raise AssertionError(
        f"{feed.name} never received a probe event; skipped {feed.skipped[-10:]}, errors {feed.errors[-5:]}"
    )


# The database, read directly --------------------------------------------------------------------


@dataclass(frozen=True)
class RequestRow:
    id: int
    client_id: int
    channel: str
    status: str
    counsellor_id: int | None
    routing_reason: str | None


@dataclass(frozen=True)
class CounsellorRow:
    id: int
    online_status: str
    chat_capacity: int
    active_chat_count: int


@dataclass(frozen=True)
class Snapshot:
    """The committed state of requests, counsellors, handlers and primaries."""

    requests: dict[int, RequestRow]
    counsellors: dict[int, CounsellorRow]
    handlers: dict[int, list[int]]  # request id -> every counsellor it was ever assigned to
    primaries: dict[int, int | None]  # client id -> primary counsellor id
    automatic: dict[int, list[tuple[int | None, int | None]]]  # client id -> (previous, new) of AUTOMATIC

    def of(self, request_ids: Iterable[int]) -> list[RequestRow]:
        return [self.requests[i] for i in request_ids]

    def held_chats(self) -> Counter[int]:
        return Counter(
            r.counsellor_id
            for r in self.requests.values()
            if r.status == "ASSIGNED" and r.channel == "CHAT" and r.counsellor_id is not None
        )

    def load_problems(self) -> list[str]:
        """Counsellors over capacity, or whose stored chat count differs from the chats they hold."""
        held = self.held_chats()
        problems = []
        for c in self.counsellors.values():
            if c.active_chat_count > c.chat_capacity:
                problems.append(f"counsellor {c.id} holds {c.active_chat_count} > capacity {c.chat_capacity}")
            if c.active_chat_count != held.get(c.id, 0):
                problems.append(
                    f"counsellor {c.id}: activeChatCount {c.active_chat_count} but "
                    f"{held.get(c.id, 0)} ASSIGNED chats"
                )
        return problems


async def snapshot(engine: AsyncEngine) -> Snapshot:
    """One consistent snapshot (REPEATABLE READ: all statements see the same commits)."""
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="REPEATABLE READ")
        requests = {
            r.id: RequestRow(r.id, r.client_id, r.channel, r.status, r.counsellor_id, r.routing_reason)
            for r in await conn.execute(
                text("SELECT id, client_id, channel, status, counsellor_id, routing_reason FROM requests")
            )
        }
        counsellors = {
            r.id: CounsellorRow(r.id, r.online_status, r.chat_capacity, r.active_chat_count)
            for r in await conn.execute(
                text("SELECT id, online_status, chat_capacity, active_chat_count FROM counsellors")
            )
        }
        handlers: dict[int, list[int]] = {}
        for r in await conn.execute(text("SELECT request_id, counsellor_id FROM request_handlers")):
            handlers.setdefault(r.request_id, []).append(r.counsellor_id)
        primaries = {
            r.id: r.primary_counsellor_id
            for r in await conn.execute(text("SELECT id, primary_counsellor_id FROM clients"))
        }
        automatic: dict[int, list[tuple[int | None, int | None]]] = {}
        for r in await conn.execute(
            text(
                "SELECT client_id, previous_counsellor_id, new_counsellor_id "
                "FROM primary_counsellor_changes WHERE source = 'AUTOMATIC' ORDER BY id"
            )
        ):
            automatic.setdefault(r.client_id, []).append((r.previous_counsellor_id, r.new_counsellor_id))
    return Snapshot(requests, counsellors, handlers, primaries, automatic)


async def settled(engine: AsyncEngine, ready: Callable[[Snapshot], bool], seconds: float = 10.0) -> Snapshot:
    """The first snapshot for which `ready` holds.

    Callers pass a `ready` after which nothing more can change (every slot taken, nothing freed):
    the state is final then, no quiet window needed to tell.
    """
    found: list[Snapshot] = []

    async def ready_now() -> Snapshot | None:
        found[:] = [await snapshot(engine)]
        return found[0] if ready(found[0]) else None

    try:
        return await eventually(ready_now, "the expected state", within=seconds, every=0.1)
    except AssertionError:
        statuses = Counter(r.status for r in found[0].requests.values()) if found else {}
        problems = found[0].load_problems() if found else []
        raise AssertionError(f"not reached within {seconds} s: {dict(statuses)}; {problems}") from None
