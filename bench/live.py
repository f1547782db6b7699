"""The live-availability measurements of issue 10: widget fan-out, idle subscribers, memory, Redis outage.

Each returns plain figures; none fails on a missed target (docs/benchmarks.md shows the verdicts).
Widgets are anonymous `availabilityChanged` subscribers on plain websockets (bench/ws.py), as a
chat widget on a counselling service's public page would be.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.light_ws import LightGraphQLSocket
from bench.phases import SET_ONLINE, LoadResult, Run, _graphql, _http_client, _load, global_id
from bench.redis_server import PrivateRedis
from bench.servers import Server
from bench.stats import Latencies
from bench.ws import GraphQLSocket
from domain.model import Role

WIDGET = "subscription Widget { availabilityChanged { chatAvailable } }"
ASSIGNED = "subscription Mine { requestAssigned { id status } }"
SUBMIT = "mutation Submit($input: SubmitRequestInput!) { submitRequest(input: $input) { id status } }"
MESSAGE = "Hallo, ist gerade jemand da?"
OPENING = 64  # websockets opened at once


def raise_open_files(needed: int) -> str:
    """Raise this process's soft limit of open files towards `needed` (servers started later inherit
    it); what the limits are now, for the report."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return f"open files: soft {soft}, hard {hard}"


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class Widgets:
    """Anonymous `availabilityChanged` subscribers spread round-robin over `servers`.

    Each widget's messages are `chatAvailable` values; `expect(value)` arms a round that ends when
    every live widget has received `value` (or died), and records each delivery's latency.
    """

    def __init__(self, servers: Sequence[Server]) -> None:
        self.servers = list(servers)
        self.sockets: list[LightGraphQLSocket] = []
        self.initial: list[bool | None] = []
        self.errors = 0
        self.skipped = 0  # not opened: the opening ran out of its time
        self.first_error = ""
        self.dead: set[int] = set()
        self._expected: bool | None = None
        self._sent = 0.0
        self._got: set[int] = set()
        self._done = asyncio.Event()
        self._initial_done = asyncio.Event()
        self._counted_initial: set[int] = set()
        self.delivery = Latencies()
        self.by_server: dict[str, Latencies] = {s.name: Latencies() for s in servers}

    def _handler(self, index: int, server: Server) -> Any:
        def handle(received: float, _sub: str, message: dict[str, Any]) -> None:
            payload = message.get("payload") or {}
            data = (
                (payload.get("data") or {}).get("availabilityChanged") if isinstance(payload, dict) else None
            )
            if message["type"] != "next" or data is None:
                self.errors += 1
                self.first_error = self.first_error or str(message)[:300]
                self.dead.add(index)
            elif self.initial[index] is None:
                self.initial[index] = data["chatAvailable"]
            elif data["chatAvailable"] == self._expected and index not in self._got:
                self._got.add(index)
                latency = received - self._sent
                self.delivery.add(latency)
                self.by_server[server.name].add(latency)
            answered = self.initial[index] is not None or index in self.dead
            if answered and index not in self._counted_initial:
                self._counted_initial.add(index)
                if len(self._counted_initial) >= len(self.sockets):
                    self._initial_done.set()
            self._check()

        return handle

    def _check(self) -> None:
        if self._expected is not None and len(self._got | self.dead) >= len(self.sockets):
            self._done.set()

    async def open(self, count: int, within: float = 180.0) -> float:
        """Open and subscribe `count` widgets, none started after `within` seconds (those count as
        `skipped` and dead); seconds until every opened one has its initial state."""
        self._initial_done.clear()
        gate = asyncio.Semaphore(OPENING)
        started = time.monotonic()
        base = len(self.sockets)

        async def one(index: int) -> None:
            server = self.servers[index % len(self.servers)]
            socket = LightGraphQLSocket(server.ws_url, self._handler(index, server))
            self.sockets.append(socket)
            self.initial.append(None)
            async with gate:
                if time.monotonic() - started > within:
                    self.skipped += 1
                    self.dead.add(index)
                    self._counted_initial.add(index)
                    return
                try:
                    await socket.open(60)
                    await socket.subscribe("1", WIDGET)
                except Exception as exc:
                    self.errors += 1
                    self.first_error = self.first_error or repr(exc)[:300]
                    self.dead.add(index)
                    self._counted_initial.add(index)

        await asyncio.gather(*(one(base + i) for i in range(count)))
        if len(self._counted_initial) >= len(self.sockets):
            self._initial_done.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._initial_done.wait(), within)
        return time.monotonic() - started

    def arm(self, expected: bool) -> None:
        self._expected = expected
        self._got = set()
        self._done.clear()
        self._sent = time.monotonic()

    async def delivered(self, within: float) -> int:
        """Wait for the armed round; how many live widgets did not get it in time."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._done.wait(), within)
        missing = len(self.sockets) - len(self._got | self.dead)
        self._expected = None
        return missing

    async def close(self) -> None:
        gate = asyncio.Semaphore(256)

        async def one(socket: LightGraphQLSocket) -> None:
            async with gate:
                await socket.close()

        await asyncio.gather(*(one(s) for s in self.sockets))
        self.sockets = []


@dataclass
class WidgetFanout:
    label: str
    widgets: int = 0
    processes: int = 0
    toggles: int = 0
    delivery: Latencies = field(default_factory=Latencies)
    by_server: dict[str, Latencies] = field(default_factory=dict)
    last: Latencies = field(default_factory=Latencies)  # per toggle: the slowest delivery
    missing: int = 0
    errors: int = 0
    first_error: str = ""
    connect_seconds: float = 0.0
    rss_per_widget: float = float("nan")  # bytes
    not_opened: int = 0  # the opening ran out of time before these
    ended: int = 0  # subscriptions that ended with an error (SERVICE_UNAVAILABLE, ...): nothing more came
    timeout: float = 0.0
    cpu: str = ""


async def _availability_baseline(run: Run) -> str:
    """Nobody is free: every counsellor OFFLINE, the toggled one with one chat slot and recently seen."""
    await run.db.set_online([], 1)
    await run.db.reset_load()
    await run.db.execute(
        "UPDATE counsellors SET online_status = 'OFFLINE', chat_capacity = 1 WHERE id = $1", run.toggled_id
    )
    if run.db.has_presence:
        await run.db.execute("UPDATE counsellors SET last_seen_at = now() WHERE id = $1", run.toggled_id)
    return global_id("Counsellor", run.toggled_id)


async def widget_fanout(
    run: Run, servers: Sequence[Server], count: int, toggles: int, label: str, wait: float
) -> WidgetFanout:
    """`count` widgets over `servers`; an admin sets one counsellor ONLINE and OFFLINE `toggles` times
    on the first server; each change flips every widget's chatAvailable."""
    result = WidgetFanout(label, count, len(servers), timeout=wait)
    target = await _availability_baseline(run)
    # The baseline is set in SQL, behind the servers' back: their live view, kept by the events,
    # would not know it. So they start again after it, reading it as any start does.
    for server in servers:
        await server.stop()
        await server.start()
    admin = run.token(Role.ADMIN, run.admin_id)
    widgets = Widgets(servers)
    before = sum(rss_bytes(s.pid) for s in servers)
    try:
        result.connect_seconds = await widgets.open(count)
        await asyncio.sleep(1.0)  # let the servers settle before reading their memory
        live = count - len(widgets.dead)
        if live:
            result.rss_per_widget = (sum(rss_bytes(s.pid) for s in servers) - before) / live
        meter = run.meter(servers)
        meter.start()
        run.profiler.start(f"widgets_{count}", list(servers))
        # The benchmark's own collections must not pause the receiving it times: with 10,000
        # sockets' objects a full one took 0.7 s here (the servers' collections are not touched).
        gc.collect()
        gc.freeze()
        async with _http_client(2) as http:
            for k in range(toggles):
                online = k % 2 == 0
                widgets.arm(online)
                status = "ONLINE" if online else "OFFLINE"
                await _graphql(
                    http, servers[0].graphql_url, admin, SET_ONLINE, {"status": status, "id": target}
                )
                seen = len(widgets.delivery.samples)
                result.missing += await widgets.delivered(wait)
                if len(widgets.delivery.samples) > seen:
                    result.last.add(max(widgets.delivery.samples[seen:]))
                result.toggles += 1
                await asyncio.sleep(0.25)
        meter.stop()
        result.cpu = meter.summary()
    finally:
        gc.unfreeze()
        await run.profiler.stop()
        await widgets.close()
        await run.db.execute("UPDATE counsellors SET online_status = 'OFFLINE' WHERE id = $1", run.toggled_id)
    result.delivery, result.by_server = widgets.delivery, widgets.by_server
    result.errors, result.first_error = widgets.errors, widgets.first_error
    result.not_opened = widgets.skipped
    result.ended = len(widgets.dead) - widgets.skipped
    return result


# Idle widgets and intake ---------------------------------------------------------------------


@dataclass
class IdleResult:
    widgets: int = 0
    intakes: int = 0  # per round and kind
    concurrency: int = 0
    rounds: int = 0
    without: LoadResult | None = None  # every round's intakes without widgets
    with_widgets: LoadResult | None = None
    cpu_without: float = 0.0  # server CPU seconds per round of intakes, on average
    cpu_with: float = 0.0
    rss_per_widget: float = float("nan")
    connect_seconds: float = 0.0
    widget_errors: int = 0


async def _intakes(
    run: Run,
    servers: Sequence[Server],
    result: LoadResult,
    count: int,
    concurrency: int,
    online: Sequence[int],
) -> float:
    """`count` first chats added to `result`; the servers' CPU seconds for them."""
    await run.db.set_online(online, 1000)
    await run.db.reset_load()
    tokens = await run.client_tokens(count, "Idle")
    meter = run.meter(servers)
    since = await run.db.max_request_id()
    meter.start()
    await _load([s.graphql_url for s in servers], False, tokens, concurrency, result)
    meter.stop()
    result.cpu = meter.summary()
    for status, n in (await run.db.status_counts(since)).items():
        result.statuses[status] = result.statuses.get(status, 0) + n
    return meter.seconds.get("api", 0.0)


async def idle_widgets(
    run: Run, servers: Sequence[Server], widgets: int, intakes: int, concurrency: int, rounds: int = 3
) -> IdleResult:
    """First chats (`concurrency` at a time) without widgets, then with `widgets` idle ones open
    (split over the servers), `rounds` times in turn: p50 over every round's intakes of a kind,
    and the servers' CPU per round. In turn, as 48 intakes of one run vary by a quarter in p50
    from run to run on this machine, whatever their widgets."""
    result = IdleResult(widgets, intakes, concurrency, rounds)
    online = run.pool[:100]
    await _intakes(run, servers, LoadResult("warm-up", len(servers)), 16, concurrency, online)
    result.without = LoadResult(f"{rounds} x {intakes} intakes, no widgets", len(servers))
    result.with_widgets = LoadResult(f"{rounds} x {intakes} intakes, {widgets} idle widgets", len(servers))
    for _ in range(rounds):
        result.cpu_without += (
            await _intakes(run, servers, result.without, intakes, concurrency, online) / rounds
        )
        opened = Widgets(servers)
        before = sum(rss_bytes(s.pid) for s in servers)
        try:
            result.connect_seconds = await opened.open(widgets)
            await asyncio.sleep(1.0)
            live = widgets - len(opened.dead)
            if live:
                result.rss_per_widget = (sum(rss_bytes(s.pid) for s in servers) - before) / live
            result.widget_errors += opened.errors
            cpu = await _intakes(run, servers, result.with_widgets, intakes, concurrency, online)
            result.cpu_with += cpu / rounds
        finally:
            await opened.close()
    for load, cpu in ((result.without, result.cpu_without), (result.with_widgets, result.cpu_with)):
        load.api_cpu_ms = cpu * rounds / max(load.requests, 1) * 1000
    return result


# Redis outage --------------------------------------------------------------------------------


@dataclass
class OutageResult:
    measured: bool = False
    note: str = ""
    submitted_status: str = ""
    seconds: float | None = None  # Redis back -> requestAssigned received; None: never within the wait
    wait: float = 0.0
    ready_again: float | None = None  # Redis back -> every process ready (/readyz 200) again


async def _ready(http: httpx.AsyncClient, server: Server) -> bool:
    try:
        return (await http.get(f"{server.base_url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def redis_outage(
    run: Run, redis: PrivateRedis | None, writer: Server, watcher: Server, wait: float
) -> OutageResult:
    """A counsellor follows requestAssigned on `watcher`; Redis stops; a chat is submitted to `writer`
    and assigned to that counsellor; Redis starts again: when does the assignment arrive?"""
    result = OutageResult(wait=wait)
    if redis is None:
        result.note = "not measured: the run has no private redis-server to stop (BENCH_REDIS_URL set)"
        return result
    counsellor = run.pool[-1]
    await run.db.set_online([counsellor], 5)
    await run.db.reset_load()
    arrived: asyncio.Queue[tuple[float, dict[str, Any]]] = asyncio.Queue()
    socket = GraphQLSocket(
        watcher.ws_url,
        run.token(Role.COUNSELLOR, counsellor),
        lambda received, _sub, message: arrived.put_nowait((received, message)),
    )
    client = (await run.client_tokens(1, "Outage"))[0]
    async with _http_client(2) as http:
        try:
            await socket.open()
            await socket.subscribe("1", ASSIGNED)
            await asyncio.sleep(1.0)  # the subscription listens (it sends nothing first)
            await redis.stop()
            for _ in range(150):  # until the writer sees its bus gone (it then only queues events)
                if not await _ready(http, writer):
                    break
                await asyncio.sleep(0.1)
            response = await http.post(
                writer.graphql_url,
                json={"query": SUBMIT, "variables": {"input": {"channel": "CHAT", "message": MESSAGE}}},
                headers={"Authorization": f"Bearer {client}"},
            )
            submitted = (response.json().get("data") or {}).get("submitRequest") or {}
            result.submitted_status = str(submitted.get("status"))
            await asyncio.sleep(3.0)  # the writer's attempt to publish fails meanwhile
            await redis.start()
            back = time.monotonic()
            result.measured = True

            async def ready_again() -> None:
                for _ in range(600):
                    if all([await _ready(http, s) for s in (writer, watcher)]):
                        result.ready_again = time.monotonic() - back
                        return
                    await asyncio.sleep(0.1)

            readiness = asyncio.create_task(ready_again())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    while True:
                        received, message = await arrived.get()
                        data = ((message.get("payload") or {}).get("data") or {}).get("requestAssigned")
                        if data and data.get("id") == submitted.get("id"):
                            result.seconds = received - back
                            break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(readiness, 60)
        finally:
            await socket.close()
            if redis.process is None:
                await redis.start()
    return result
