"""The life of a state feed.

A feed listens on the bus before it reads its first state (so no change falls in between), then
takes events in the bus's relay as they come, without a task of its own: the end of its session
(domain/live.py's `session_after`) or its token's expiry ends it, a change that moves its state
sends the new state, a bus gap re-reads what the events may have missed (in one job at a time).
Its results go out through graph/outlets.py: handed over to the transport after the first, or
yielded by the subscription's own generator where the transport takes no hand-over.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Hashable, Iterable
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket

from domain.errors import Unauthenticated
from domain.events import Event, StateMayBeStale
from domain.live import Topic, session_after, session_topics
from domain.model import Viewer
from graph import outlets
from graph.context import Context, GraphInfo
from graph.errors import domain_error
from graph.outlets import ENDED, DirectOutlet, StreamOutlet

log = logging.getLogger(__name__)
# After a failed re-read (the database is away), the next try comes this much later.
RETRY_SECONDS = 1.0
EXPIRED = "The token has expired."
ENDED_SESSION = "The session has ended; sign in again."
STALE = "stale"  # a due job: events may have been lost


class Feed:
    """One state subscription's life: listening, its session, its catch-up jobs, its outlet.
    Subclasses say what they listen to, read, and make of an event."""

    __slots__ = (
        "_direct",
        "_due",
        "_ended",
        "_ending",
        "_expiry",
        "_gap",
        "_held",
        "_job",
        "_listening",
        "_ready",
        "_stream",
        "closed",
        "context",
        "viewer",
    )

    def __init__(self, info: GraphInfo, viewer: Viewer) -> None:
        # The context only: the resolve info would keep the operation's executor alive for as
        # long as the feed lives (docs/benchmarks.md, "memory per widget").
        self.context: Context = info.context
        self.viewer = viewer
        self._stream: StreamOutlet | None = StreamOutlet()
        self._direct: DirectOutlet | None = None
        self._listening: Any = None
        self._expiry: asyncio.TimerHandle | None = None
        self._job: asyncio.Task[None] | None = None
        self._ending: asyncio.Task[None] | None = None
        self._due: set[str] = set()
        self._gap: StateMayBeStale | None = None
        self._ended: str | None = None
        self._held: int | None = None
        self._ready = False
        self.closed = False

    # What subclasses say.

    def topics(self) -> Iterable[Topic]:
        return ()

    async def read_state(self) -> None:
        """Read and send the first state."""
        raise NotImplementedError

    def take_event(self, event: Event) -> None:
        """An event of the feed's topics (the viewer's session still stands)."""

    async def catch_up(self, due: set[str]) -> None:
        """Re-read what the due jobs name (STALE: after a bus gap) and send what changed."""

    def wants_gaps(self) -> bool:
        """Whether a bus gap means anything to this feed beyond what the live view re-reads."""
        return not self.viewer.is_anonymous

    # The life of a feed.

    async def follow(self) -> AsyncIterator[Any]:
        """The subscription's generator: the first state, then the feed hands itself over to the
        transport when it takes it, else yields its results until its session ends."""
        try:
            await self._start()
            while self._stream is not None:
                result = await self._stream.next()
                if result is ENDED:
                    break
                self.context.fresh_loaders()
                yield result
                direct = outlets.current()
                # Not once the session ended meanwhile (the yield waits for the client): the
                # stream then ends here and the socket is closed below.
                if direct is not None and direct.takes_hand_over and self._ended is None and not self.closed:
                    self._hand_over(direct)
            if self._ended is not None and self._direct is None:
                await end_session(self.context, self._ended)
        finally:
            if self._direct is None:
                self.close()

    async def _start(self) -> None:
        bus = self.context.state.bus
        self._listening = bus.listen([*self.topics(), *session_topics(self.viewer)], self)
        keeper = self.context.state.presence
        if keeper is not None and self.viewer.counsellor_id is not None:
            self._held = self.viewer.counsellor_id
            await keeper.hold(self._held)
        # The session may have ended between reading it and listening: read it once more.
        if not self.viewer.is_anonymous:
            try:
                self.viewer = await self.context.viewer()
            except Unauthenticated as exc:
                self._end(exc.message)
                return
        self._arm_expiry()
        await self.read_state()
        self._ready = True
        self._run_due()

    def _arm_expiry(self) -> None:
        expires = self.viewer.expires_at
        if expires is not None and self._expiry is None:
            seconds = max((expires - datetime.now(UTC)).total_seconds(), 0.0)
            self._expiry = asyncio.get_running_loop().call_later(seconds, self._end, EXPIRED)

    def take(self, event: Event) -> None:
        """In the bus's relay: must not block."""
        if self.closed or self._ended is not None:
            return
        if isinstance(event, StateMayBeStale):
            if self.wants_gaps():
                self._gap = event
                self._schedule(STALE)
            return
        after = session_after(self.viewer, event)
        if after is None:
            self._end(ENDED_SESSION)
            return
        self.viewer = after
        try:
            self.take_event(event)
        except Exception:
            log.exception("a subscription failed to take an event")

    async def settled(self) -> None:
        """Until the work its events so far started is done and, for its own generator, all it
        had to send is taken (tests wait on it before they conclude that nothing was sent)."""
        while not self.closed:
            if self._job is not None:
                await asyncio.wait({self._job})
                continue
            if self._stream is None:
                return
            await self._stream.drained()
            if self._job is None:
                return

    def reading(self) -> bool:
        """Whether a read of the state is under way or due: what it finds may be older than the
        events taken meanwhile, so those go out after it."""
        return not self._ready or bool(self._due) or self._job is not None

    def send(self, key: Hashable, payload: Any) -> None:
        if self.closed or self._ended is not None:
            return
        if self._direct is not None:
            self._direct.push(key, payload)
        elif self._stream is not None:
            self._stream.push(key, payload)

    def _hand_over(self, direct: DirectOutlet) -> None:
        assert self._stream is not None
        pending, self._stream = self._stream.take_pending(), None
        self._direct = direct
        direct.take_over(self.close)
        for key, payload in pending.items():
            direct.push(key, payload)

    def _schedule(self, work: str) -> None:
        self._due.add(work)
        self._run_due()

    def _run_due(self) -> None:
        if self._ready and self._due and self._job is None and not self.closed:
            self._job = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        """The due jobs, one at a time, in order of need; a failed one is tried again."""
        try:
            while self._due and not self.closed and self._ended is None:
                due, self._due = self._due, set()
                try:
                    if STALE in due and not await self._session_stands():
                        return
                    await self.catch_up(due)
                except Exception:
                    log.warning("a subscription could not catch up; trying again", exc_info=True)
                    self._due |= due
                    await asyncio.sleep(RETRY_SECONDS)
        finally:
            self._job = None

    async def _session_stands(self) -> bool:
        """After a gap (the event that ended it may be lost): the session as the database has it."""
        try:
            self.viewer = await self.context.viewer()
        except Unauthenticated as exc:
            self._end(exc.message)
            return False
        return True

    def _end(self, reason: str) -> None:
        """The session ended or the token lapsed: close the websocket (4401), or end the stream."""
        if self.closed or self._ended is not None:
            return
        self._ended = reason
        if self._direct is not None:
            self._ending = asyncio.get_running_loop().create_task(self._direct.end_session())
        elif self._stream is not None:
            self._stream.end()

    def close(self) -> None:
        """Stop listening, timing and working (idempotent)."""
        if self.closed:
            return
        self.closed = True
        if self._listening is not None:
            self._listening.close()
        if self._expiry is not None:
            self._expiry.cancel()
        if self._job is not None and self._job is not asyncio.current_task():
            self._job.cancel()
        keeper = self.context.state.presence
        if keeper is not None and self._held is not None:
            keeper.release(self._held)
        self.closing()

    def closing(self) -> None:
        """What a subclass lets go of when the feed closes."""


async def end_session(context: Context, reason: str) -> None:
    """On a websocket, close it (4401) and end quietly; elsewhere fail with UNAUTHENTICATED."""
    socket = context.request
    if not isinstance(socket, WebSocket):
        raise domain_error(Unauthenticated(reason))
    with contextlib.suppress(Exception):
        await socket.close(code=4401, reason="Unauthorized")
