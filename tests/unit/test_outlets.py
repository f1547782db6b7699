"""graph/outlets.py: a rendering shared by many operations survives one of them leaving, a
failed one is not reused, and what a shared payload remembers is bounded (found in review)."""

from __future__ import annotations

import asyncio
import copy
import gc
import json
import tracemalloc
import weakref
from types import SimpleNamespace
from typing import Any

from graphql import ExecutionResult, parse

from graph import outlets

DATA = {"counsellorAvailabilityChanged": {"primaryClientCount": 1}}


class Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.scope: dict[str, Any] = {}

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


class HeldExecutor:
    """An executor whose result is awaited (a field with a DataLoader), until `done` is set."""

    operation = parse("subscription { counsellorAvailabilityChanged { primaryClientCount } }").definitions[0]
    variable_values = SimpleNamespace(coerced={})
    middleware_manager = None

    def __init__(self) -> None:
        self.schema = object()  # a schema of its own: plans are shared per schema and document
        self.context_value: Any = None
        self.root_value: Any = None
        self.done = asyncio.Event()
        self.executions: list[Any] = []  # the context of each execution (shared by copies)

    def gather_async_work(self, values: Any) -> Any:
        return asyncio.gather(*values)

    def track_async_work(self, values: Any) -> None:
        pass

    def build_per_event_executor(self, payload: Any) -> HeldExecutor:
        event = copy.copy(self)
        event.root_value = payload
        return event

    def execute_operation(self, serially: bool) -> Any:
        self.executions.append(self.context_value)

        async def later() -> ExecutionResult:
            await self.done.wait()
            return ExecutionResult(data=DATA)

        return later()


def _outlet(socket: Socket, operation_id: str, executor: HeldExecutor) -> outlets.DirectOutlet:
    outlet = outlets.DirectOutlet(socket, operation_id, None, lambda seconds: None)  # type: ignore[arg-type]
    outlet.note_executor(executor)
    return outlet


class NowSocket(Socket):
    """A socket whose server offers the synchronous send; `full` while its buffer is full."""

    def __init__(self) -> None:
        super().__init__()
        self.full = False
        self.scope = {"extensions": {outlets.SEND_NOW: self.send_now}}
        self.sent_now: list[str] = []

    def send_now(self, text: str) -> bool:
        if not self.full:
            self.sent_now.append(text)
            self.sent.append(text)
        return not self.full


async def _settle() -> None:
    for _ in range(10):  # a few loop turns: the drains run their steps
        await asyncio.sleep(0)


async def test_one_operation_leaving_does_not_cancel_the_rendering_it_shares() -> None:
    payload = SimpleNamespace()
    outlets.mark_shared(payload)
    executor = HeldExecutor()
    leaving, staying, late = Socket(), Socket(), Socket()
    a, b = _outlet(leaving, "a", executor), _outlet(staying, "b", executor)
    a.push(1, payload)
    b.push(1, payload)
    await _settle()
    a.close()  # its client completed the subscription while the rendering was awaited
    executor.done.set()
    await _settle()
    assert len(staying.sent) == 1 and '"primaryClientCount": 1' in staying.sent[0]
    _outlet(late, "c", executor).push(1, payload)
    await _settle()
    assert len(late.sent) == 1
    assert len(executor.executions) == 1  # one rendering served all three


async def test_operations_sharing_a_plan_each_run_with_their_own_context() -> None:
    """The plan of a document is shared, the viewer is not: a payload that is not shared is
    executed with each operation's own context, never with the one that made the plan."""
    first, second = HeldExecutor(), HeldExecutor()
    second.schema = first.schema
    first.context_value, second.context_value = "first viewer", "second viewer"
    a, b = _outlet(Socket(), "a", first), _outlet(Socket(), "b", second)
    assert a.executor is b.executor  # one plan for the document
    first.done.set()
    for outlet in (a, b):
        outlet.push(1, SimpleNamespace())
    await _settle()
    assert first.executions == ["first viewer", "second viewer"]


def test_a_shared_payload_remembers_a_bounded_number_of_documents() -> None:
    cache: dict[Any, Any] = {}
    for document in range(10 * outlets.SHARED_DOCUMENTS):
        outlets.remember(cache, document, "text")
    assert 0 < len(cache) <= outlets.SHARED_DOCUMENTS


class ReadyExecutor(HeldExecutor):
    """An executor whose result is ready at once: the payload's number."""

    def execute_operation(self, serially: bool) -> Any:
        return ExecutionResult(data={"n": self.root_value})


async def test_results_go_out_at_once_while_the_socket_takes_them_and_in_order_when_it_does_not() -> None:
    socket = NowSocket()
    outlet = _outlet(socket, "a", ReadyExecutor())
    outlet.push("state", 1)
    assert [json.loads(t)["payload"]["data"]["n"] for t in socket.sent_now] == [1]  # no loop turn
    socket.full = True
    outlet.push("state", 2)  # waits for the socket: queued
    socket.full = False
    outlet.push("other", 3)  # the socket takes it now, but 2 waits before it
    assert len(socket.sent_now) == 1
    await _settle()
    outlet.push("state", 4)
    sent = [json.loads(t)["payload"]["data"]["n"] for t in socket.sent]
    assert sent == [1, 2, 3, 4]
    assert len(socket.sent_now) == 2  # 1 and 4; 2 and 3 went the waiting way


class Viewer:
    """An operation's context, as much of it as an execution uses (weakly referable)."""

    def fresh_loaders(self) -> None:
        pass


WIDGET = "subscription { availabilityChanged { chatAvailable mailAvailable } }"


def _operation(context: Viewer, document: str = WIDGET) -> Any:
    """The executor strawberry makes for an operation of the app's schema."""
    from graph.live import SharingExecutor
    from graph.schema import schema

    return SharingExecutor.build(schema._schema, parse(document), context_value=context)


def _widget(
    socket: Socket, operation_id: str, context: Viewer, document: str = WIDGET
) -> outlets.DirectOutlet:
    from graph.schema import schema

    outlet = outlets.DirectOutlet(socket, operation_id, schema, lambda seconds: None)  # type: ignore[arg-type]
    outlet.note_executor(_operation(context, document))
    return outlet


def _availability(chat: bool) -> Any:
    from graph.types.availability import Availability

    return Availability(chat_available=chat, mail_available=False, primary_counsellor=None)


def test_a_plan_keeps_no_memory_per_result_it_renders() -> None:
    """A plan lives as long as anyone runs its document (a widget's: as long as the process):
    what it keeps must not grow with every result rendered by it."""
    socket = Socket()
    a, b = _widget(socket, "a", Viewer()), _widget(socket, "b", Viewer())
    assert a.executor is b.executor

    def render(results: int) -> None:
        for n in range(results):
            for outlet in (a, b):
                outlets.rendered(outlet.executor, Viewer(), None, _availability(n % 2 == 0), None)

    render(100)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        render(1000)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 100_000, f"{grown} bytes kept after 2000 results"


async def test_a_plan_does_not_keep_the_viewer_of_the_operation_that_made_it() -> None:
    first, second = Viewer(), Viewer()
    leaving, staying = Socket(), Socket()
    document = WIDGET + " # a document of this test's own: its plan is made here"
    a, b = _widget(leaving, "a", first, document), _widget(staying, "b", second, document)
    assert a.executor is b.executor
    gone = weakref.ref(first)
    a.close()
    del a, first
    gc.collect()
    assert gone() is None, "the plan keeps the context of an operation that ended"
    b.push(1, _availability(True))
    await _settle()
    assert json.loads(staying.sent[0])["payload"] == {
        "data": {"availabilityChanged": {"chatAvailable": True, "mailAvailable": False}}
    }
