"""graph/outlets.py: a rendering shared by many operations survives one of them leaving, a
failed one is not reused, and what a shared payload remembers is bounded (found in review)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from graphql import ExecutionResult, parse

from graph import outlets

DATA = {"counsellorAvailabilityChanged": {"primaryClientCount": 1}}


class Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


class HeldExecutor:
    """An executor whose result is awaited (a field with a DataLoader), until `done` is set."""

    operation = parse("subscription { counsellorAvailabilityChanged { primaryClientCount } }").definitions[0]
    variable_values = SimpleNamespace(coerced={})
    context_value = None

    def __init__(self) -> None:
        self.done = asyncio.Event()
        self.executions = 0

    def build_per_event_executor(self, payload: Any) -> HeldExecutor:
        return self

    def execute_operation(self, serially: bool) -> Any:
        self.executions += 1

        async def later() -> ExecutionResult:
            await self.done.wait()
            return ExecutionResult(data=DATA)

        return later()


def _outlet(socket: Socket, operation_id: str, executor: HeldExecutor) -> outlets.DirectOutlet:
    outlet = outlets.DirectOutlet(socket, operation_id, None, lambda seconds: None)  # type: ignore[arg-type]
    outlet.executor = executor
    return outlet


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
    assert executor.executions == 1  # one rendering served all three


def test_a_shared_payload_remembers_a_bounded_number_of_documents() -> None:
    cache: dict[Any, Any] = {}
    for document in range(10 * outlets.SHARED_DOCUMENTS):
        outlets.remember(cache, document, "text")
    assert 0 < len(cache) <= outlets.SHARED_DOCUMENTS
