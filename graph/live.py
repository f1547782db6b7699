"""The process's live view: one availability board for every subscription of this process, fed by
the bus, reloaded from the database at start and after a bus gap; the widgets grouped by the
primary their answer depends on, told only when their group's answer moved; and the payloads many
subscribers share, built once per change.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Protocol, TypeVar

from graphql import ExecutionResult

from domain.events import Event, StateMayBeStale
from domain.live import EVERYONE, Answer, AvailabilityBoard, Moved
from domain.model import ANONYMOUS, Counsellor, Role, Viewer
from domain.stopping import cancel_and_wait
from domain.use_cases import Deps
from domain.use_cases.availability import AvailabilityView, everyone_and_settings
from graph import outlets
from graph.context import AppState
from graph.plain_fields import PlainLeafFields
from graph.queries import availability_of
from graph.types.availability import Availability
from graph.types.counsellor import Counsellor as CounsellorType

log = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P")
# After a failed load (the database is away), the next try comes this much later.
RETRY_SECONDS = 1.0
# Who a shared counsellor payload is built for: any staff member reads the same fields of it
# (graph/feeds/ shares it only for documents that select no field depending on who reads).
STAFF = Viewer(role=Role.COUNSELLOR)


class Watcher(Protocol):
    """A subscription whose availability follows a primary's answer (graph/feeds/)."""

    def answer_moved(self, answer: Answer) -> None: ...


class LiveView:
    """Current once loaded: `board()` waits for a load under way (at start, after a gap)."""

    def __init__(self, deps: Deps, bus: Any) -> None:
        self._deps = deps
        self._bus = bus
        self._board: AvailabilityBoard | None = None
        self._current = asyncio.Event()
        # Events received while a load is under way, applied after it in order.
        self._pending: list[Event] = []
        self._loading: asyncio.Task[None] | None = None
        # Watchers by the primary their answer depends on (None: nobody's), and the answer each
        # group was last told.
        self._groups: dict[int | None, set[Watcher]] = {}
        self._told: dict[int | None, Answer] = {}
        self._payloads: dict[Answer, Availability] = {}
        self._colleagues: dict[int, tuple[Counsellor, CounsellorType]] = {}
        self.per_event = PerEvent()
        self._started = False

    def start(self) -> None:
        """Listen (before reading, so that no change falls in between) and load."""
        if not self._started:
            self._started = True
            self._bus.observe(self._take)
            self._load_again()

    async def stop(self) -> None:
        self._bus.unobserve(self._take)
        await cancel_and_wait(self._loading)

    async def board(self) -> AvailabilityBoard:
        self.start()  # the composition root starts it at once; tests on first use
        await self._current.wait()
        assert self._board is not None
        return self._board

    def join(self, watcher: Watcher, primary_id: int | None, answer: Answer) -> None:
        """`watcher` follows the answers of `primary_id`'s clients from `answer` (read just now)."""
        group = self._groups.setdefault(primary_id, set())
        if not group:
            self._told[primary_id] = answer
        group.add(watcher)

    def leave(self, watcher: Watcher, primary_id: int | None) -> None:
        group = self._groups.get(primary_id)
        if group is not None:
            group.discard(watcher)
            if not group:
                del self._groups[primary_id]
                self._told.pop(primary_id, None)

    def _take(self, event: Event) -> None:
        if isinstance(event, StateMayBeStale):
            self._load_again()
        elif not self._current.is_set():
            self._pending.append(event)
        elif self._board is not None:
            moved = self._board.apply(event)
            if moved is not None:
                self._tell(moved)

    def _tell(self, moved: Moved) -> None:
        """Tell every group whose answer moved, and only those."""
        assert self._board is not None
        primaries = list(self._groups) if moved.everyone else moved.primaries & self._groups.keys()
        now = self._deps.clock.now()
        for primary_id in primaries:
            answer = self._board.answer(primary_id, now)
            if self._told.get(primary_id) == answer:
                continue
            self._told[primary_id] = answer
            for watcher in list(self._groups.get(primary_id, ())):
                try:
                    watcher.answer_moved(answer)
                except Exception:
                    log.exception("a widget failed to take an availability change")

    def _load_again(self) -> None:
        """Load anew; a load under way may have read before the gap, so it starts over."""
        self._current.clear()
        if self._loading is not None and not self._loading.done():
            self._loading.cancel()
        self._loading = asyncio.create_task(self._load())

    async def _load(self) -> None:
        while True:
            try:
                counsellors, settings = await everyone_and_settings(self._deps)
                break
            except Exception:
                log.warning("could not load the availability board; trying again", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)
        if self._board is None:
            self._board = AvailabilityBoard(counsellors, settings)
        else:
            self._board.reload(counsellors, settings)
        pending, self._pending = self._pending, []
        for event in pending:
            self._board.apply(event)
        self._current.set()
        self._tell(EVERYONE)

    def shared(self, answer: Answer) -> Availability:
        """The payload of everyone whose availability is `answer` and who has no queued request:
        built once per answer (the same document executes once on the same object)."""
        found = self._payloads.get(answer)
        if found is None:
            if len(self._payloads) > 256:
                self._payloads.clear()
            view = AvailabilityView(answer.chat_available, answer.mail_available, answer.primary)
            # No queued request: nothing in it depends on who receives it.
            found = self._payloads[answer] = shared_payload(availability_of(view, ANONYMOUS))
        return found

    def colleague(self, counsellor: Counsellor) -> CounsellorType:
        """The payload of every staff member watching `counsellor` (this snapshot of them), for
        documents that select only what every staff member reads alike."""
        found = self._colleagues.get(counsellor.id)
        if found is None or found[0] is not counsellor:
            found = (counsellor, shared_payload(CounsellorType.of(counsellor, STAFF)))
            self._colleagues[counsellor.id] = found
        return found[1]


def live_view(state: AppState) -> LiveView:
    """The app's live view; made here when the composition root made none (tests)."""
    if state.live is None:
        state.live = LiveView(state.deps, state.bus)
    live: LiveView = state.live
    return live


class _Read:
    """One shared read and how many subscribers await it."""

    def __init__(self, task: asyncio.Future[Any]) -> None:
        self.task = task
        self.waiting = 0


class PerEvent:
    """What many subscribers would each read for the same event, read once: the first asks, the
    others await its answer. Remembers the last few events (subscribers may lag a little). A read
    nobody awaits any more (every asker left) is cancelled: it never outlives its subscribers."""

    def __init__(self, remembered: int = 64) -> None:
        self._remembered = remembered
        self._reads: OrderedDict[int, tuple[Event, dict[Hashable, _Read]]] = OrderedDict()

    async def once(self, event: Event, key: Hashable, read: Callable[[], Awaitable[T]]) -> T:
        entry = self._reads.get(id(event))
        if entry is None or entry[0] is not event:
            entry = self._reads[id(event)] = (event, {})
            while len(self._reads) > self._remembered:
                self._reads.popitem(last=False)
        reads = entry[1]
        found = reads.get(key)
        if found is None or (found.task.done() and (found.task.cancelled() or found.task.exception())):
            found = reads[key] = _Read(asyncio.ensure_future(read()))
        found.waiting += 1
        try:
            result: T = await asyncio.shield(found.task)
            return result
        finally:
            found.waiting -= 1
            if found.waiting == 0 and not found.task.done():
                found.task.cancel()


# The results of executing a shared payload, kept on the payload itself (it lives for one change).
_RESULTS = "_stamm_results"


def shared_payload(payload: P) -> P:
    """Mark `payload` as the same for every subscriber that receives it: its result for one
    document and variables is computed once (its fields must not depend on who receives it)."""
    object.__setattr__(payload, _RESULTS, {})
    outlets.mark_shared(payload)
    return payload


class SharingExecutor(PlainLeafFields):
    """Executes a subscription event once per shared payload, document and variables; every
    other execution as graphql-core does. A subscription's executor is noted by its operation's
    direct outlet (graph/outlets.py), which executes its later results."""

    def build_per_event_executor(self, payload: Any) -> Any:
        outlet = outlets.current()
        if outlet is not None:
            outlet.note_executor(self)
        event = super().build_per_event_executor(payload)
        # graphql-core (3.3) memoizes collected subfields on the identity of field lists that every
        # execution makes anew, in a dict the copies share with the executor they came from: it
        # would keep about 1 KiB per result for as long as the executor lives (a plan of
        # graph/outlets.py: as long as anyone runs its document). A memo of its own per event
        # serves the same hits (the list items of one result).
        event._relevant_sub_fields = {}
        return event

    def execute_operation(self, serially: bool | None = None) -> Any:
        results: dict[Hashable, Any] | None = getattr(self.root_value, _RESULTS, None)
        if results is None:
            return super().execute_operation(serially)
        key = outlets.document_key(self)
        found = results.get(key)
        if found is None:
            found = super().execute_operation(serially)
            if isinstance(found, ExecutionResult) and not found.errors:
                outlets.remember(results, key, found)
        return found
