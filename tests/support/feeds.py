"""One subscription's results in a queue, so that a test waits for the result it expects.

Used by tests/e2e, tests/faults, tests/security and tests/multiprocess over gql's
graphql-transport-ws transport. (bench/ speaks the protocol itself on plain websockets: gql
per socket is too heavy for its thousand sockets.)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from gql import GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError

# Long enough for a loaded machine; a passing test never waits for it.
EVENT_TIMEOUT = 10.0

Result = dict[str, Any]
Predicate = Callable[[Result], bool]

_END = object()


class NoResult(AssertionError):
    """Nothing (matching) arrived in time."""


@dataclass
class Feed:
    """Results in order; a result with errors is raised by `next` and skipped by `wait_for`.

    gql's `session.subscribe` ends a subscription at its first error result; the transport's own
    generator keeps going, as the server does, so the feed reads from the transport.
    """

    name: str = "subscription"
    queue: asyncio.Queue[object] = field(default_factory=asyncio.Queue)
    skipped: list[Result] = field(default_factory=list)
    errors: list[Result] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def pump(self, session: AsyncClientSession, request: GraphQLRequest) -> None:
        try:
            async for result in session.transport.subscribe(request):
                if result.errors:
                    failed = TransportQueryError(
                        str(result.errors[0]), errors=result.errors, data=result.data
                    )
                    await self.queue.put(failed)
                else:
                    await self.queue.put(result.data)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            await self.queue.put(exc)
        else:
            await self.queue.put(_END)

    async def next(self, within: float = EVENT_TIMEOUT) -> Result:
        """The next result; raises what the subscription raised (TransportQueryError for errors)."""
        try:
            item = await asyncio.wait_for(self.queue.get(), within)
        except TimeoutError:
            raise NoResult(f"{self.name}: no result within {within} s") from None
        if isinstance(item, BaseException):
            raise item
        if item is _END:
            raise AssertionError(f"{self.name}: the subscription ended")
        assert isinstance(item, dict)
        return item

    async def error(self, within: float = EVENT_TIMEOUT) -> list[Result]:
        """The errors of the next result (which must have errors)."""
        try:
            result = await self.next(within)
        except TransportQueryError as exc:
            assert exc.errors, f"no errors in {exc!r}"
            return exc.errors
        raise AssertionError(f"{self.name}: expected errors, got {result}")

    async def wait_for(self, matches: Predicate, within: float = EVENT_TIMEOUT) -> Result:
        """The first result that `matches`; others are kept in `skipped`, errors in `errors`."""
        deadline = time.monotonic() + within
        while True:
            try:
                item = await self.next(max(deadline - time.monotonic(), 0.0))
            except TransportQueryError as exc:
                self.errors.append({"errors": exc.errors, "data": exc.data})
                continue
            except NoResult:
                raise NoResult(
                    f"{self.name}: no matching result within {within} s; skipped {self.skipped[-10:]}, "
                    f"errors {self.errors[-5:]}"
                ) from None
            if matches(item):
                return item
            self.skipped.append(item)

    async def nothing_before(self, marker: Predicate, within: float = EVENT_TIMEOUT) -> Result:
        """The next result is `marker`: whatever should not have arrived before it did not.

        The caller causes the marker after the unwanted result would have been sent; results of
        one subscription arrive in the order the server sent them, so this proves the absence.
        """
        item = await self.next(within)
        assert marker(item), f"{self.name}: expected only the marker, got {item}"
        return item

    def taken(self) -> list[Result]:
        """What arrived and was not yet read (no waiting)."""
        items = []
        while not self.queue.empty():
            item = self.queue.get_nowait()
            assert isinstance(item, dict), f"{self.name}: the subscription failed or ended: {item!r}"
            items.append(item)
        return items

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


@contextlib.asynccontextmanager
async def subscribed(
    session: AsyncClientSession, query: str, *, name: str = "", **variables: Any
) -> AsyncIterator[Feed]:
    """Subscribe on `session`; the feed ends (its operation is completed) when the block is left."""
    feed = Feed(name or query.split("{")[1].split("(")[0].strip())
    request = GraphQLRequest(query, variable_values=variables or None)
    feed.task = asyncio.create_task(feed.pump(session, request))
    try:
        yield feed
    finally:
        await feed.close()


def field_is(root: str, **expected: Any) -> Predicate:
    """A result whose `root` field has these values (`client__id=...` for nested fields)."""

    def matches(result: Result) -> bool:
        value = result.get(root)
        if not isinstance(value, dict):
            return False
        for path, wanted in expected.items():
            found: Any = value
            for part in path.split("__"):
                found = found.get(part) if isinstance(found, dict) else None
            if found != wanted:
                return False
        return True

    return matches
