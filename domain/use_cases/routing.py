"""Routing a request inside its client's locked transaction, and dispatching the queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

from domain.errors import ServiceUnavailable
from domain.events import CounsellorStateChanged, PrimaryCounsellorChanged, RequestChanged
from domain.model import (
    AssignmentSource,
    Channel,
    Client,
    Counsellor,
    PrimaryCounsellorChange,
    Request,
    RoutingReason,
    Settings,
)
from domain.policy import RoutingDecision, route_request
from domain.ports import UnitOfWork
from domain.stopping import cancel_and_wait
from domain.use_cases import Deps

log = logging.getLogger(__name__)

CANDIDATES = 8
# A claim lost to a concurrent router is retried with fresh candidates this often.
MAX_ATTEMPTS = 5
DISPATCH_BATCH = 500


class RoutingInputs:
    """What the policy reads for one decision; with `cached`, each read happens once per transaction
    (a dispatch run judges many requests on one snapshot)."""

    def __init__(self, uow: UnitOfWork, settings: Settings, *, cached: bool = False) -> None:
        self._uow = uow
        self.settings = settings
        self._cached = cached
        self._counsellors: dict[int, Counsellor | None] = {}
        self._candidates: dict[tuple[Channel, int | None], list[Counsellor]] = {}
        self._last: tuple[Counsellor | None, list[Counsellor], Counsellor | None] = (None, [], None)

    async def counsellor(self, counsellor_id: int | None) -> Counsellor | None:
        if counsellor_id is None:
            return None
        if not self._cached or counsellor_id not in self._counsellors:
            self._counsellors[counsellor_id] = await self._uow.counsellors.get(counsellor_id)
        return self._counsellors[counsellor_id]

    async def candidates(
        self, channel: Channel, primary_id: int | None, excluded: int = 0
    ) -> list[Counsellor]:
        key = (channel, primary_id)
        if not self._cached or key not in self._candidates or excluded:
            limit = CANDIDATES + excluded  # excluded counsellors may head the list
            self._candidates[key] = await self._uow.counsellors.candidates(channel, primary_id, limit)
        return self._candidates[key]

    async def decide(self, request: Request, client: Client, now: datetime) -> RoutingDecision:
        """The policy's decision for `request` on the state read through this object."""
        primary_id = client.primary_counsellor_id
        fallback_id = self.settings.fallback_counsellor_id if request.channel is Channel.MAIL else None
        self._last = (
            await self.counsellor(primary_id),
            await self.candidates(request.channel, primary_id, len(request.excluded_ids)),
            await self.counsellor(fallback_id),
        )
        return self.decide_again(request, now)

    def decide_again(
        self, request: Request, now: datetime, taken: frozenset[int] = frozenset()
    ) -> RoutingDecision:
        """The last decision again, without reading, had the candidates in `taken` not been free."""
        primary, candidates, fallback = self._last
        others = [c for c in candidates if c.id not in taken]
        return route_request(request, primary, others, fallback, self.settings, now)


async def route(
    uow: UnitOfWork,
    request: Request,
    client: Client,
    now: datetime,
    settings: Settings | None = None,
    holders: set[int] | None = None,
) -> Counsellor | None:
    """Route `request` of the locked `client` (rules 1 to 4): claim the chosen counsellor's capacity,
    make them primary if the rules say so, and assign `request` in memory; returns who holds it now,
    or None when it stays QUEUED. The caller stores the request, then calls `handed_over`.

    `settings` and the client's `holders`, when the caller read them already, save a statement each.
    """
    inputs = RoutingInputs(uow, settings or await uow.settings.get())
    channel = request.channel
    for _ in range(MAX_ATTEMPTS):
        decision = await inputs.decide(request, client, now)
        if decision.counsellor_id is None or decision.reason is None:
            request.keep_queued(decision.steps, decision.wait_for_id, decision.wait_until, at=now)
            return None
        counsellor, decision = await _claim(uow, inputs, request, decision, now)
        if counsellor is None or decision.reason is None:
            continue  # another router took that slot first: look again
        if decision.becomes_primary:
            await make_primary(uow, client, counsellor.id, AssignmentSource.AUTOMATIC, now, holders=holders)
        made_primary = decision.becomes_primary
        previous = request.assign(
            counsellor.id, decision.reason, now, decision.steps, made_primary=made_primary
        )
        await release(uow, previous, channel)
        return counsellor
    log.info("request %s stays queued after %s lost claims", request.id, MAX_ATTEMPTS)
    return None


async def _claim(
    uow: UnitOfWork, inputs: RoutingInputs, request: Request, decision: RoutingDecision, now: datetime
) -> tuple[Counsellor | None, RoutingDecision]:
    """Claim the decision's counsellor; among equally good free candidates, one whose row no other
    router holds (the decision then names the one taken, with its own trace). Waits for the chosen
    one only when every candidate is busy."""
    assert decision.counsellor_id is not None
    channel = request.channel
    if decision.alternatives:
        ranked = [decision.counsellor_id, *decision.alternatives]
        taken = await uow.counsellors.claim_first(ranked, channel, now)
        if taken is not None:
            passed = frozenset(ranked[: ranked.index(taken.id)])
            return taken, inputs.decide_again(request, now, passed) if passed else decision
    return await uow.counsellors.claim(decision.counsellor_id, channel, now, decision.checked), decision


async def assign(
    uow: UnitOfWork,
    request: Request,
    counsellor: Counsellor,
    reason: RoutingReason,
    now: datetime,
) -> None:
    """Hand the locked `request` to `counsellor`, whose capacity was already claimed, and store it;
    frees what it held before."""
    previous = request.assign(counsellor.id, reason, now)
    await release(uow, previous, request.channel)
    await uow.requests.save_transition(request)
    await handed_over(uow, request, counsellor)


async def handed_over(uow: UnitOfWork, request: Request, counsellor: Counsellor) -> None:
    """After `request` was stored as assigned to `counsellor`: remember them as one who handled
    it, and tell."""
    await uow.requests.record_handler(request.id, counsellor.id)
    uow.record(CounsellorStateChanged(counsellor))
    uow.record(RequestChanged(request, assigned=True))


async def release(uow: UnitOfWork, holder_id: int | None, channel: Channel) -> None:
    """Give back the slot or resource a request held (a transition returned its holder)."""
    if holder_id is None:
        return
    freed = await uow.counsellors.release(holder_id, channel)
    if freed is not None:
        uow.record(CounsellorStateChanged(freed))


async def make_primary(
    uow: UnitOfWork,
    client: Client,
    counsellor_id: int | None,
    source: AssignmentSource,
    now: datetime,
    changed_by_id: int | None = None,
    reason: str | None = None,
    holders: set[int] | None = None,
) -> PrimaryCounsellorChange | None:
    """Set the client's primary and append the history entry; None if nothing changed.
    `holders`: the client's holders, when the caller read them after locking the client."""
    previous = client.primary_counsellor_id
    if previous == counsellor_id:
        return None
    if holders is None:
        holders = await uow.clients.holder_ids(client.id)
    if not await uow.clients.set_primary(client.id, counsellor_id, expected=previous):
        raise RuntimeError(f"primary of client {client.id} moved while its row was locked")
    client.primary_counsellor_id = counsellor_id
    change = await uow.history.add(
        PrimaryCounsellorChange(
            id=0,
            client_id=client.id,
            previous_counsellor_id=previous,
            new_counsellor_id=counsellor_id,
            source=source,
            changed_at=now,
            changed_by_id=changed_by_id,
            reason=reason,
        )
    )
    watchers = holders | {c for c in (previous, counsellor_id) if c is not None}
    uow.record(PrimaryCounsellorChanged(change, frozenset(watchers)))
    return change


async def _promising(deps: Deps) -> tuple[list[Request], Settings]:
    """Queued requests, oldest first, that the policy would move now (judged on a read snapshot).

    Only these get a write transaction, so a long queue nobody can take costs reads, not locks;
    the whole queue is judged, so requests nobody may take never hide a younger one.
    """
    now = deps.clock.now()
    promising: list[Request] = []
    async with deps.uow(write=False) as uow:
        settings = await uow.settings.get()
        inputs = RoutingInputs(uow, settings, cached=True)
        after = 0
        while batch := await uow.requests.queued(DISPATCH_BATCH, after):
            clients = await uow.clients.get_many([r.client_id for r in batch])
            for request in batch:
                client = clients.get(request.client_id)
                if client is None:
                    continue
                decision = await inputs.decide(request, client, now)
                starts_wait = decision.wait_until is not None and decision.wait_until != request.wait_until
                if decision.assigns or starts_wait:
                    promising.append(request)
            after = batch[-1].id
    return promising, settings


async def dispatch_once(deps: Deps) -> int:
    """Offer every queued request, oldest first, by the same rules as a new one; returns how many moved.

    Requests are judged on a snapshot; one that cannot move after all shows the snapshot is stale
    (its counsellor was taken, or capacity freed meanwhile belongs to an older request than the
    next one): judge again from the oldest, a few times at most.
    """
    moved = 0
    for attempt in range(MAX_ATTEMPTS):
        promising, settings = await _promising(deps)
        offered, stale = await _offer(deps, promising, settings, stop_when_stale=attempt < MAX_ATTEMPTS - 1)
        moved += offered
        if not stale:
            break
    return moved


async def _offer(
    deps: Deps, promising: list[Request], settings: Settings, *, stop_when_stale: bool
) -> tuple[int, bool]:
    """Route the promising requests in order; (how many moved, whether one unexpectedly could not).
    The settings of the run's snapshot serve every request of the run."""
    moved = 0
    for waiting in promising:
        async with deps.uow() as uow:
            client = await uow.clients.lock(waiting.client_id)
            request = await uow.requests.lock_queued(waiting.id)
            if client is None or request is None:
                continue  # routed, closed or cancelled meanwhile, or claimed by another process
            holder = await route(uow, request, client, deps.clock.now(), settings)
            if holder is not None:
                await uow.requests.save_transition(request)
                await handed_over(uow, request, holder)
                moved += 1
            elif request.wait_until != waiting.wait_until:
                await uow.requests.save_transition(request)  # a wait for the primary started
            elif stop_when_stale:
                return moved, True
            else:
                continue
            await uow.commit()
    return moved, False


class Dispatcher:
    """Coalesces dispatch runs: a change during a run causes exactly one more run.

    After a committed change, use cases only `request` a run: it happens in the background, so
    a failing run (a pool timeout, a deadlock) never turns a committed change into an error. A
    failed run is logged; the sweep's periodic run retries it.
    """

    def __init__(self, deps: Deps, dispatch: Callable[[Deps], Awaitable[object]] = dispatch_once) -> None:
        self._deps = deps
        self._dispatch = dispatch
        self._lock = asyncio.Lock()
        # Odd while a run is under way: each run adds one when it starts and one when it ends.
        self._generation = 0
        self._wanted = False
        self._worker: asyncio.Task[None] | None = None

    async def run(self) -> None:
        """Return once a dispatch run that started after this call has finished."""
        seen = self._generation
        finished_after_call = seen + (3 if seen % 2 else 2)
        async with self._lock:
            if self._generation >= finished_after_call:
                return  # someone else's run covered our change
            self._generation += 1
            try:
                await self._dispatch(self._deps)
            finally:
                self._generation += 1

    async def request(self) -> None:
        """Ask for a run in the background and return at once; requests during a run add one more."""
        self._wanted = True
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())

    async def settled(self) -> None:
        """Return once every requested run has finished (tests, shutdown)."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    async def stop(self) -> None:
        """Cancel a background run (at shutdown, before the engines close)."""
        await cancel_and_wait(self._worker)

    async def _work(self) -> None:
        while self._wanted:
            self._wanted = False
            try:
                await self.run()
            except ServiceUnavailable:
                log.warning("dispatch run skipped: the database is unreachable; the sweep retries")
            except Exception:
                log.warning("dispatch run failed; the sweep retries", exc_info=True)
