"""The process's live view: one availability board for every subscription of this process, fed by
the bus, reloaded from the database at start and after a bus gap; and the payloads many
subscribers share, built once per change.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from domain.events import Event, StateMayBeStale
from domain.live import Answer, AvailabilityBoard
from domain.model import ANONYMOUS
from domain.stopping import cancel_and_wait
from domain.use_cases import Deps
from domain.use_cases.availability import AvailabilityView, everyone_and_settings
from graph.context import AppState
from graph.queries import availability_of
from graph.types.availability import Availability

log = logging.getLogger(__name__)
T = TypeVar("T")
P = TypeVar("P")
# After a failed load (the database is away), the next try comes this much later.
RETRY_SECONDS = 1.0


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
        self._payloads: dict[int, tuple[Answer, Availability]] = {}
        self._payloads_of = -1
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

    def _take(self, event: Event) -> None:
        if isinstance(event, StateMayBeStale):
            self._load_again()
        elif not self._current.is_set():
            self._pending.append(event)
        elif self._board is not None:
            self._board.apply(event)

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

    def shared(self, board: AvailabilityBoard, answer: Answer) -> Availability:
        """The payload of everyone whose availability is `answer` and who has no queued request:
        built once per change of the board (the same document executes on the same object)."""
        if self._payloads_of != board.version:
            self._payloads, self._payloads_of = {}, board.version
        found = self._payloads.get(id(answer))
        if found is None or found[0] is not answer:
            view = AvailabilityView(answer.chat_available, answer.mail_available, answer.primary)
            # No queued request: nothing in it depends on who receives it.
            found = (answer, shared_payload(availability_of(view, ANONYMOUS)))
            self._payloads[id(answer)] = found
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
    return payload


class SharingExecutor(StrawberryGraphQLCoreExecutionContext):
    """Executes a subscription event once per shared payload, document and variables; every
    other execution as graphql-core does."""

    def execute_operation(self, serially: bool | None = None) -> Any:
        results: dict[Hashable, Any] | None = getattr(self.root_value, _RESULTS, None)
        if results is None:
            return super().execute_operation(serially)
        source = self.operation.loc.source.body if self.operation.loc else id(self.operation)
        key = (
            source,
            self.operation.name.value if self.operation.name else None,
            _frozen(self.variable_values.coerced),
        )
        found = results.get(key)
        if found is None:
            found = super().execute_operation(serially)
            if isinstance(found, ExecutionResult) and not found.errors:
                results[key] = found
        return found


def _frozen(values: dict[str, Any] | None) -> Hashable:
    return repr(sorted(values.items())) if values else None
