"""The five measurements. Each returns plain figures; none of them fails on a missed target."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import re
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from redis import asyncio as aioredis
from sqlalchemy import Engine, Pool, event
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.requests import Request as StarletteRequest

from bench.database import BenchDatabase
from bench.servers import Profiler, Server, gc_pauses
from bench.stats import CpuMeter, Latencies
from bench.ws import GraphQLSocket
from bootstrap.config import Config
from bootstrap.wiring import create_app
from domain.model import Role, Viewer
from graph.auth import TokenSigner
from graph.context import AppState, Context
from graph.schema import schema

SUBMIT = "mutation Submit($input: SubmitRequestInput!) { submitRequest(input: $input) { id status routingReason } }"
CLOSE = "mutation Close($id: ID!) { closeRequest(id: $id) { id status } }"
SET_ONLINE = (
    "mutation Toggle($status: OnlineStatus!, $id: ID) {"
    " setOnlineStatus(status: $status, counsellorId: $id) { id onlineStatus } }"
)
REQUEST_UPDATED = "subscription Follow($id: ID) { requestUpdated(id: $id) { id status routingReason } }"
AVAILABILITY = (
    "subscription Watch($id: ID) { counsellorAvailabilityChanged(counsellorId: $id) { id onlineStatus } }"
)
# The member list's columns ride along (issue 11): open requests and last request per client,
# the account state and status, the last login.
OVERVIEW = (
    "query Overview { clients(first: 50) { totalCount edges { node {"
    " displayName clientCode primaryCounsellor { displayName }"
    " accountStatus invitationStatus lastLoginAt openRequestCount lastRequestAt } } } }"
)
MESSAGE = "Hallo, ich brauche bitte jemanden zum Reden."
HTTP_TIMEOUT = 30.0


@dataclass
class Run:
    """What every phase shares: the database, the signer, the seeded staff, the profiler."""

    db: BenchDatabase
    secret: str
    signer: TokenSigner
    redis_url: str
    profiler: Profiler
    concurrency: int
    admin_id: int = 0
    pool: list[int] = field(default_factory=list)  # counsellors, oldest first
    holder_id: int = 0  # the one counsellor online in the re-dispatch phase
    toggled_id: int = 0  # the counsellor whose availability the fan-out phase toggles
    redis_pids: list[int] = field(default_factory=list)  # the private Redis, if the run has one
    log_dir: Path | None = None  # server logs; with --gc-log they hold the GC pauses

    def gc_mark(self) -> dict[str, int]:
        return gc_pauses(self.log_dir)[1] if self.log_dir else {}

    def gc_since(self, mark: dict[str, int]) -> list[float]:
        return gc_pauses(self.log_dir, mark)[0] if self.log_dir else []

    def meter(self, servers: Sequence[Server]) -> CpuMeter:
        groups = {"api": [s.pid for s in servers], "bench": [os.getpid()]}
        if self.redis_pids:
            groups["redis"] = self.redis_pids
        return CpuMeter(groups)

    def token(self, role: Role, account_id: int) -> str:
        viewer = (
            Viewer(role=role, client_id=account_id)
            if role is Role.CLIENT
            else Viewer(role=role, counsellor_id=account_id)
        )
        return self.signer.issue(viewer)[0]

    async def client_tokens(self, count: int, label: str) -> list[str]:
        """Tokens of `count` new clients without a primary (each request is a first request)."""
        ids = await self.db.add_clients(count, label=label)
        return [self.token(Role.CLIENT, i) for i in ids]


def global_id(kind: str, row_id: int) -> str:
    from graph import ids

    return str(ids.encode(kind, row_id))


# Intake ---------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    label: str
    processes: int
    requests: int = 0
    seconds: float = 0.0
    latencies: Latencies = field(default_factory=Latencies)
    errors: int = 0
    first_error: str = ""
    statuses: dict[str, int] = field(default_factory=dict)
    cpu: str = ""
    api_cpu_ms: float = 0.0  # API process CPU per request
    lock_waiters: float = 0.0  # database sessions waiting for a lock, on average
    in_transaction: float = 0.0  # database sessions inside a transaction, on average
    gc: list[float] = field(default_factory=list)  # the servers' GC pauses >= 20 ms (ms), with --gc-log

    @property
    def throughput(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


class LockSampler:
    """Samples pg_stat_activity of the bench database every 50 ms while a run lasts."""

    def __init__(self, db: BenchDatabase) -> None:
        self._db = db
        self._samples: list[tuple[int, int]] = []
        self._task: asyncio.Task[None] | None = None

    async def _sample(self) -> None:
        while True:
            row = (
                await self._db.fetch(
                    """
                    SELECT count(*) FILTER (WHERE wait_event_type = 'Lock') AS waiting,
                           count(*) FILTER (WHERE xact_start IS NOT NULL) AS in_transaction
                    FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()
                    """
                )
            )[0]
            self._samples.append((row["waiting"], row["in_transaction"]))
            await asyncio.sleep(0.05)

    def start(self) -> None:
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> tuple[float, float]:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not self._samples:
            return 0.0, 0.0
        n = len(self._samples)
        return sum(w for w, _ in self._samples) / n, sum(t for _, t in self._samples) / n


def _http_client(concurrency: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    return httpx.AsyncClient(limits=limits, timeout=HTTP_TIMEOUT)


async def _load(
    urls: Sequence[str],
    floor: bool,
    tokens: Sequence[str],
    concurrency: int,
    result: LoadResult,
    rate: float = 0.0,
) -> None:
    """Submit one chat per token, round-robin over `urls`.

    Closed loop (`rate` 0): `concurrency` clients, each sending its next request when the last
    one returned. Open loop (`rate` > 0): one request every 1/rate seconds, whatever is pending.
    """
    clients = [_http_client(max(concurrency, 64 if rate else 1)) for _ in urls]
    numbers = itertools.count()

    async def one(i: int) -> None:
        client = clients[i % len(clients)]
        url = urls[i % len(urls)]
        headers = {"Authorization": f"Bearer {tokens[i]}"}
        if floor:
            body: dict[str, Any] = {"channel": "CHAT", "message": MESSAGE}
        else:
            body = {"query": SUBMIT, "variables": {"input": {"channel": "CHAT", "message": MESSAGE}}}
        started = time.perf_counter()
        try:
            response = await client.post(url, json=body, headers=headers)
            result.latencies.add(time.perf_counter() - started)
            payload = response.json()
            ok = response.status_code == 200 and (floor or not payload.get("errors"))
            if not ok:
                result.errors += 1
                result.first_error = result.first_error or str(payload)[:300]
        except (httpx.HTTPError, ValueError) as exc:
            result.errors += 1
            result.first_error = result.first_error or repr(exc)[:300]

    async def worker() -> None:
        while (i := next(numbers)) < len(tokens):
            await one(i)

    async def paced() -> None:
        pending = []
        begin = time.perf_counter()
        for i in range(len(tokens)):
            delay = begin + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.append(asyncio.create_task(one(i)))
        await asyncio.gather(*pending)

    try:
        started = time.perf_counter()
        if rate:
            await paced()
        else:
            await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.seconds += time.perf_counter() - started  # added: a result may gather several runs
        result.requests += len(tokens)
    finally:
        for client in clients:
            await client.aclose()


async def intake(
    run: Run,
    label: str,
    servers: Sequence[Server],
    *,
    floor: bool,
    online: Sequence[int],
    capacity: int,
    requests: int,
    warmup: int,
    concurrency: int = 0,
    rate: float = 0.0,
) -> LoadResult:
    """Warm up, then `requests` submits at `concurrency` (default run.concurrency) clients, each from a new client."""
    concurrency = concurrency or run.concurrency
    await run.db.set_online(online, capacity)
    await run.db.reset_load()
    warm_tokens = await run.client_tokens(warmup, "Warm")
    tokens = await run.client_tokens(requests, "Intake")
    urls = [s.base_url + "/requests" if floor else s.graphql_url for s in servers]
    await _load(urls, floor, warm_tokens, concurrency, LoadResult("warm-up", len(servers)))
    since = await run.db.max_request_id()
    result = LoadResult(label, len(servers))
    meter = run.meter(servers)
    locks = LockSampler(run.db)
    run.profiler.start(label.replace(" ", "_").replace(",", ""), list(servers))
    meter.start()
    locks.start()
    mark = run.gc_mark()
    await _load(urls, floor, tokens, concurrency, result, rate)
    result.gc = run.gc_since(mark)
    result.lock_waiters, result.in_transaction = await locks.stop()
    meter.stop()
    await run.profiler.stop()
    result.cpu = meter.summary()
    result.api_cpu_ms = meter.seconds.get("api", 0.0) / max(result.requests, 1) * 1000
    result.statuses = await run.db.status_counts(since)
    return result


# Does every process hear the bus? ------------------------------------------------------------


async def deaf_servers(run: Run, servers: Sequence[Server]) -> list[Server]:
    """Servers whose local subscribers get no bus events: a probe subscription on each, one toggle.

    A process can come up subscribed on a second, unread Redis connection (see docs/benchmarks.md);
    it then serves its own subscribers nothing until restarted.
    """
    target = global_id("Counsellor", run.toggled_id)
    admin = run.token(Role.ADMIN, run.admin_id)
    heard = {s.name: asyncio.Event() for s in servers}
    initial = {s.name: asyncio.Event() for s in servers}

    def handler_for(server: Server) -> Any:
        def handle(_: float, __: str, message: dict[str, Any]) -> None:
            data = ((message.get("payload") or {}).get("data") or {}).get(
                "counsellorAvailabilityChanged"
            ) or {}
            if data.get("onlineStatus") == "OFFLINE":
                initial[server.name].set()
            elif data.get("onlineStatus") == "ONLINE":
                heard[server.name].set()

        return handle

    await run.db.execute("UPDATE counsellors SET online_status = 'OFFLINE' WHERE id = $1", run.toggled_id)
    sockets = [GraphQLSocket(s.ws_url, admin, handler_for(s)) for s in servers]
    try:
        for socket in sockets:
            await socket.open()
            await socket.subscribe("probe", AVAILABILITY, {"id": target})
        await asyncio.wait_for(asyncio.gather(*(e.wait() for e in initial.values())), 10)
        async with _http_client(1) as http:
            await _graphql(
                http, servers[0].graphql_url, admin, SET_ONLINE, {"status": "ONLINE", "id": target}
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*(e.wait() for e in heard.values())), 3)
            await _graphql(
                http, servers[0].graphql_url, admin, SET_ONLINE, {"status": "OFFLINE", "id": target}
            )
    finally:
        await asyncio.gather(*(s.close() for s in sockets))
    return [s for s in servers if not heard[s.name].is_set()]


# Re-dispatch ----------------------------------------------------------------------------------


@dataclass
class RedispatchResult:
    trials: int = 0
    from_send: Latencies = field(default_factory=Latencies)
    from_closed_event: Latencies = field(default_factory=Latencies)
    from_response: Latencies = field(default_factory=Latencies)
    anomalies: list[str] = field(default_factory=list)


class Feeds:
    """Messages per subscription id, with their receive times."""

    def __init__(self) -> None:
        self._queues: dict[str, asyncio.Queue[tuple[float, dict[str, Any]]]] = {}

    def queue(self, sub_id: str) -> asyncio.Queue[tuple[float, dict[str, Any]]]:
        return self._queues.setdefault(sub_id, asyncio.Queue())

    def put(self, received: float, sub_id: str, message: dict[str, Any]) -> None:
        self.queue(sub_id).put_nowait((received, message))

    async def until_status(self, sub_id: str, status: str, wait: float = 10.0) -> float:
        """Receive time of the first `next` on `sub_id` whose request has `status`."""
        deadline = time.monotonic() + wait
        while True:
            received, message = await asyncio.wait_for(self.queue(sub_id).get(), deadline - time.monotonic())
            if message["type"] == "error":
                raise RuntimeError(f"subscription {sub_id} failed: {message}")
            if message["type"] == "next":
                data = (message["payload"].get("data") or {}).get("requestUpdated") or {}
                if data.get("status") == status:
                    return received
                if message["payload"].get("errors"):
                    raise RuntimeError(f"subscription {sub_id} failed: {message}")

    def drop(self, sub_id: str) -> None:
        self._queues.pop(sub_id, None)


async def _graphql(
    http: httpx.AsyncClient, url: str, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await http.post(
        url, json={"query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"}
    )
    payload: dict[str, Any] = response.json()
    if payload.get("errors"):
        raise RuntimeError(f"GraphQL errors: {payload['errors']}")
    data: dict[str, Any] = payload["data"]
    return data


async def redispatch(run: Run, writer: Server, watcher: Server, trials: int) -> RedispatchResult:
    """A counsellor with one chat slot holds a chat; a second chat waits; closing the first frees it.

    closeRequest goes to `writer` over HTTP; the admin follows both requests with requestUpdated(id)
    over a websocket on `watcher` (the other process, so the events cross Redis).
    """
    result = RedispatchResult()
    await run.db.set_online([run.holder_id], 1)
    await run.db.reset_load()
    tokens = await run.client_tokens(trials + 1, "Queue")
    holder = run.token(Role.COUNSELLOR, run.holder_id)
    feeds = Feeds()
    socket = GraphQLSocket(watcher.ws_url, run.token(Role.ADMIN, run.admin_id), feeds.put)
    await socket.open()
    submit_input = {"input": {"channel": "CHAT", "message": MESSAGE}}
    try:
        async with _http_client(4) as http:
            first = await _graphql(http, writer.graphql_url, tokens[0], SUBMIT, submit_input)
            previous = first["submitRequest"]["id"]
            if first["submitRequest"]["status"] != "ASSIGNED":
                result.anomalies.append(f"the first request was {first['submitRequest']['status']}")
            for i in range(1, trials + 1):
                queued = (await _graphql(http, writer.graphql_url, tokens[i], SUBMIT, submit_input))[
                    "submitRequest"
                ]
                if queued["status"] != "QUEUED":
                    result.anomalies.append(f"trial {i}: the new request was {queued['status']}, not QUEUED")
                    continue
                waiting, closing = f"q{i}", f"c{i}"
                await socket.subscribe(waiting, REQUEST_UPDATED, {"id": queued["id"]})
                await socket.subscribe(closing, REQUEST_UPDATED, {"id": previous})
                await feeds.until_status(waiting, "QUEUED")
                await feeds.until_status(closing, "ASSIGNED")
                sent = time.monotonic()
                await _graphql(http, writer.graphql_url, holder, CLOSE, {"id": previous})
                answered = time.monotonic()
                assigned = await feeds.until_status(waiting, "ASSIGNED")
                closed = await feeds.until_status(closing, "CLOSED")
                result.from_send.add(assigned - sent)
                result.from_closed_event.add(assigned - closed)
                result.from_response.add(assigned - answered)
                result.trials += 1
                await socket.complete(waiting)
                feeds.drop(waiting)
                feeds.drop(closing)
                previous = queued["id"]
    finally:
        await socket.close()
    return result


# Fan-out --------------------------------------------------------------------------------------


@dataclass
class FanoutResult:
    subscribers: int = 0
    toggles: int = 0
    delivery: Latencies = field(default_factory=Latencies)
    by_process: dict[str, Latencies] = field(default_factory=dict)
    last_delivery: Latencies = field(default_factory=Latencies)  # per toggle: when the last one arrived
    mutation: Latencies = field(default_factory=Latencies)
    missing: int = 0
    errors: int = 0
    initial_errors: int = 0
    ended: int = 0  # subscriptions that ended with an error (SERVICE_UNAVAILABLE, ...)
    gc: list[float] = field(default_factory=list)
    first_error: str = ""
    connect_seconds: float = 0.0
    redis_rtt: Latencies = field(default_factory=Latencies)
    cpu: str = ""


@contextmanager
def _raised_fd_limit(needed: int) -> Iterator[None]:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    yield


async def fanout(run: Run, writer: Server, other: Server, subscribers: int, toggles: int) -> FanoutResult:
    """`subscribers` staff sockets, half on each process, watch one counsellor an admin toggles."""
    result = FanoutResult(subscribers=subscribers)
    staff = run.pool[:subscribers]
    target = global_id("Counsellor", run.toggled_id)
    state: dict[str, Any] = {"toggle": -1, "expected": None, "sent": 0.0, "count": 0, "initial": 0}
    seen: list[int] = [-1] * subscribers
    all_in = asyncio.Event()
    servers = [writer, other]
    for s in servers:
        result.by_process[s.name] = Latencies()

    answered = [False] * subscribers  # each socket's first message (its initial state, or an error)
    dead: set[int] = set()  # subscriptions that ended with an error: nothing more will come

    def check_all_in() -> None:
        if state["toggle"] < 0:
            done = state["initial"]
        else:  # delivered this toggle, or dead without having delivered it
            done = state["count"] + sum(1 for i in dead if seen[i] != state["toggle"])
        if done >= subscribers:
            all_in.set()

    def handler_for(index: int, server: Server) -> Any:
        def handle(received: float, _sub: str, message: dict[str, Any]) -> None:
            failed = message["type"] != "next" or bool(message["payload"].get("errors"))
            if failed:
                result.errors += 1
                result.first_error = result.first_error or str(message)[:300]
                dead.add(index)
            if not answered[index]:
                answered[index] = True
                state["initial"] += 1
                check_all_in()
                return
            if failed or state["toggle"] < 0:
                check_all_in()
                return
            data = message["payload"]["data"]["counsellorAvailabilityChanged"]
            if data["onlineStatus"] != state["expected"] or seen[index] == state["toggle"]:
                return
            seen[index] = state["toggle"]
            latency = received - state["sent"]
            result.delivery.add(latency)
            result.by_process[server.name].add(latency)
            state["count"] += 1
            check_all_in()

        return handle

    sockets: list[GraphQLSocket] = []
    opening = asyncio.Semaphore(32)

    async def open_one(index: int) -> None:
        server = servers[index % 2]
        socket = GraphQLSocket(
            server.ws_url, run.token(Role.COUNSELLOR, staff[index]), handler_for(index, server)
        )
        sockets.append(socket)
        async with opening:
            await socket.open()
            await socket.subscribe("1", AVAILABILITY, {"id": target})

    admin = run.token(Role.ADMIN, run.admin_id)
    with _raised_fd_limit(subscribers * 2 + 1024):
        try:
            await run.db.set_online([], 1)  # nobody routes: the toggled counsellor has no chat slot
            await run.db.execute(
                "UPDATE counsellors SET online_status = 'OFFLINE', chat_capacity = 0 WHERE id = $1",
                run.toggled_id,
            )
            started = time.monotonic()
            await asyncio.gather(*(open_one(i) for i in range(subscribers)))
            await asyncio.wait_for(all_in.wait(), 120)  # every socket has its initial state (or an error)
            result.initial_errors = result.errors
            result.connect_seconds = time.monotonic() - started
            await asyncio.sleep(1.0)
            meter = run.meter(servers)
            run.profiler.start("fanout", servers)
            meter.start()
            mark = run.gc_mark()
            async with _http_client(2) as http:
                for k in range(toggles):
                    all_in.clear()
                    status = "ONLINE" if k % 2 == 0 else "OFFLINE"
                    state.update(toggle=k, expected=status, count=0)
                    state["sent"] = time.monotonic()
                    await _graphql(
                        http, writer.graphql_url, admin, SET_ONLINE, {"status": status, "id": target}
                    )
                    result.mutation.add(time.monotonic() - state["sent"])
                    try:
                        await asyncio.wait_for(all_in.wait(), 10)
                        if state["count"]:
                            result.last_delivery.add(max(result.delivery.samples[-state["count"] :]))
                    except TimeoutError:
                        lost = sum(1 for i in dead if seen[i] != state["toggle"])
                        result.missing += subscribers - lost - state["count"]
                    result.ended = len(dead)
                    result.toggles += 1
                    await asyncio.sleep(0.25)
            meter.stop()
            result.gc = run.gc_since(mark)
            await run.profiler.stop()
            result.cpu = meter.summary()
        finally:
            await asyncio.gather(*(s.close() for s in sockets))
    broken = [s.failure for s in sockets if s.failure is not None]
    if broken:
        result.errors += len(broken)
        result.first_error = result.first_error or repr(broken[0])[:300]
    result.redis_rtt = await redis_round_trip(run.redis_url, 200)
    return result


async def redis_round_trip(url: str, rounds: int) -> Latencies:
    """Raw PUBLISH to receive on a second connection, one message at a time (redis.asyncio)."""
    found = Latencies()
    channel = f"stamm.bench.rtt.{os.getpid()}"
    publisher = aioredis.Redis.from_url(url)
    listener = aioredis.Redis.from_url(url)
    pubsub = listener.pubsub(ignore_subscribe_messages=True)
    arrived: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def listen() -> None:
        async for message in pubsub.listen():
            if message["type"] == "message":
                arrived.put_nowait((time.monotonic(), message["data"]))

    try:
        await pubsub.subscribe(channel)
        task = asyncio.create_task(listen())
        for i in range(rounds):
            sent = time.monotonic()
            await publisher.publish(channel, str(i))
            received, data = await asyncio.wait_for(arrived.get(), 5)
            if data == str(i).encode():
                found.add(received - sent)
            await asyncio.sleep(0.005)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    finally:
        await pubsub.aclose()
        await listener.aclose()
        await publisher.aclose()
    return found


# Client overview ------------------------------------------------------------------------------


@dataclass
class OverviewResult:
    viewer: str
    total_count: int = 0
    rows: int = 0
    latencies: Latencies = field(default_factory=Latencies)
    statements: int = 0
    transactions: int = 0
    statement_list: list[str] = field(default_factory=list)
    errors: int = 0


_COLUMN = re.compile(r"\w+\.\w+")


def shorten(statement: str) -> str:
    """One line; a long leading column list as `table.* (N columns)`, so the rest shows."""
    text = " ".join(statement.split())
    if not text.startswith("SELECT "):
        return text[:400]
    items = text[len("SELECT ") :].split(", ")
    count = 0
    while count < len(items) and _COLUMN.fullmatch(items[count]):
        count += 1
    rest = ", ".join(items[count:])
    if count < len(items) and _COLUMN.match(items[count]) and " FROM " in items[count]:
        count += 1  # the last column runs into FROM
        rest = items[count - 1].split(" ", 1)[1] + (", " + ", ".join(items[count:]) if items[count:] else "")
    if count >= 4:
        table = items[0].split(".")[0]
        text = f"SELECT {table}.* ({count} columns)" + (", " if not rest.startswith("FROM") else " ") + rest
    return text[:400]


@contextmanager
def counted() -> Iterator[tuple[list[str], list[int]]]:
    """SQL statements (before_cursor_execute) and pool checkouts (one transaction each) meanwhile.

    Listens on every engine of this process; the in-process app below runs no background work.
    """
    statements: list[str] = []
    checkouts: list[int] = []

    def record(*args: Any) -> None:
        statements.append(shorten(str(args[2])))

    def checkout(*_: Any) -> None:
        checkouts.append(1)

    event.listen(Engine, "before_cursor_execute", record)
    event.listen(Pool, "checkout", checkout)
    try:
        yield statements, checkouts
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        event.remove(Pool, "checkout", checkout)


def _http_request(token: str) -> StarletteRequest:
    headers = [(b"authorization", f"Bearer {token}".encode())]
    return StarletteRequest({"type": "http", "method": "POST", "path": "/graphql", "headers": headers})


def bench_config(database_url: str, broadcast_url: str, secret: str) -> Config:
    """The production Config, read from an environment like the servers get (no file, no demo)."""
    overrides = {
        "DATABASE_URL": database_url,
        "BROADCAST_URL": broadcast_url,
        "STAMM_SECRET_KEY": secret,
        "STAMM_DATA_KEY": base64.b64encode(secret.encode()[:32].ljust(32, b"k")).decode(),
        "STAMM_DEMO": "0",
        "STAMM_MIGRATE": "0",
    }
    saved = {k: os.environ.get(k) for k in overrides}
    os.environ.update(overrides)
    try:
        return Config.from_env()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class InProcess:
    """The production app's state (bootstrap.wiring.create_app) in this process, its lifespan not started:
    the real schema and use cases on the bench database, with no timers running (for counting)."""

    def __init__(self, run: Run) -> None:
        self.app = create_app(bench_config(run.db.url, "memory://", run.secret))
        self.state: AppState = self.app.state.stamm
        self._engines: set[Engine] = set()

    async def __aenter__(self) -> InProcess:
        await self.state.bus.connect()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.state.bus.disconnect()
        for engine in self._engines:
            await AsyncEngine(engine).dispose()

    async def count(
        self, query: str, token: str, variables: dict[str, Any] | None = None
    ) -> tuple[list[str], int, Any]:
        """Statements and transactions of one operation (run it once before, to warm the caches)."""
        context = Context(self.state, _http_request(token))
        seen = self._engines

        def note(conn: Any, *_: Any) -> None:
            seen.add(conn.engine)

        event.listen(Engine, "before_cursor_execute", note)
        try:
            with counted() as (statements, checkouts):
                found = await schema.execute(query, variables, context_value=context)
        finally:
            event.remove(Engine, "before_cursor_execute", note)
        return statements, len(checkouts), found


async def overview(run: Run, server: Server, viewer: str, token: str, rounds: int) -> OverviewResult:
    """`rounds` sequential requests of the first page of the client overview, after a warm-up."""
    result = OverviewResult(viewer)
    body = {"query": OVERVIEW}
    headers = {"Authorization": f"Bearer {token}"}
    async with _http_client(1) as http:
        for i in range(20 + rounds):
            if i == 20:
                run.profiler.start(f"overview_{viewer}", [server])
            started = time.perf_counter()
            response = await http.post(server.graphql_url, json=body, headers=headers)
            elapsed = time.perf_counter() - started
            payload = response.json()
            if payload.get("errors"):
                result.errors += 1
                continue
            if i >= 20:
                result.latencies.add(elapsed)
            page = payload["data"]["clients"]
            result.total_count, result.rows = page["totalCount"], len(page["edges"])
    await run.profiler.stop()
    async with InProcess(run) as local:
        await local.count(OVERVIEW, token)  # warms the parser and validation caches
        statements, transactions, _ = await local.count(OVERVIEW, token)
    result.statements, result.transactions, result.statement_list = len(statements), transactions, statements
    return result


async def submit_statements(run: Run) -> tuple[list[str], int]:
    """Statements and transactions of one submitRequest (a first request, routed), in process."""
    tokens = await run.client_tokens(2, "Counted")
    variables = {"input": {"channel": "CHAT", "message": MESSAGE}}
    async with InProcess(run) as local:
        await local.count(SUBMIT, tokens[0], variables)
        statements, transactions, found = await local.count(SUBMIT, tokens[1], variables)
    if found.errors:
        raise RuntimeError(f"submitRequest failed in process: {found.errors}")
    return statements, transactions


def status_summary(statuses: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(Counter(statuses).items()))
