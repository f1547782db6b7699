"""availabilityChanged: a chat widget's live availability."""

from __future__ import annotations

from domain.events import Event, PrimaryCounsellorChanged, RequestChanged
from domain.live import Answer, Topic, queue_topic
from domain.model import RequestStatus, Viewer
from domain.use_cases import availability as availability_use_case
from domain.use_cases.availability import AvailabilityView, Standing
from graph.context import GraphInfo
from graph.feeds.feed import Feed
from graph.live import LiveView, live_view
from graph.queries import availability_of


class AvailabilityFeed(Feed):
    """A widget's availability: the answer of its primary's group in the live view (told only when
    that answer moved), with the client's own standing (primary, queued request and its place)
    re-read when one of their events may have moved it."""

    __slots__ = ("_answer", "_last", "_live", "_mine", "_queue")

    def __init__(self, info: GraphInfo, viewer: Viewer) -> None:
        super().__init__(info, viewer)
        self._live: LiveView = live_view(info.context.state)
        self._mine = Standing()
        self._answer: Answer | None = None
        self._last: AvailabilityView | None = None
        self._queue: Topic | None = None

    async def read_state(self) -> None:
        mine = await availability_use_case.standing(self.context.deps, self.viewer)
        await self._settle(mine)

    async def _settle(self, mine: Standing) -> None:
        """Take `mine` as the client's standing: the group of its primary, the queue it waits in."""
        board = await self._live.board()
        if self._answer is not None and mine.primary_id != self._mine.primary_id:
            self._live.leave(self, self._mine.primary_id)
            self._answer = None
        self._mine = mine
        queue = queue_topic(mine.queued.channel) if mine.queued is not None else None
        if queue != self._queue and self._listening is not None:
            if self._queue is not None:
                self._listening.ignore(self._queue)
            if queue is not None:
                self._listening.listen(queue)
            self._queue = queue
        answer = board.answer(mine.primary_id, self.context.deps.clock.now())
        if self._answer is None:
            self._live.join(self, mine.primary_id, answer)
        self._answer = answer
        self._offer()

    def answer_moved(self, answer: Answer) -> None:
        """Called by the live view when the group's answer moved. While the client's standing is
        being read again, the new state waits for it (an event that moved both comes out once)."""
        self._answer = answer
        if not self._due and self._job is None:
            self._offer()

    def _offer(self) -> None:
        assert self._answer is not None
        now = _availability(self._answer, self._mine)
        if now == self._last:
            return
        self._last = now
        if self._mine.queued is None:  # nothing of the client's own in it: shared
            self.send(None, self._live.shared(self._answer))
        else:
            self.send(None, availability_of(now, self.viewer))

    def take_event(self, event: Event) -> None:
        if _moves_standing(event, self.viewer, self._mine):
            self._schedule("standing")

    async def catch_up(self, due: set[str]) -> None:
        mine = await availability_use_case.standing(self.context.deps, self.viewer)
        await self._settle(mine)

    def closing(self) -> None:
        if self._answer is not None:
            self._live.leave(self, self._mine.primary_id)


def _availability(answer: Answer, mine: Standing) -> AvailabilityView:
    return AvailabilityView(
        answer.chat_available, answer.mail_available, answer.primary, mine.queued, mine.queue
    )


def _moves_standing(event: Event, viewer: Viewer, mine: Standing) -> bool:
    """Whether `event` may change the client's primary, queued request or its place in the queue
    (the only parts of availability that are the client's own, read for them alone)."""
    if not viewer.is_client:
        return False
    if isinstance(event, PrimaryCounsellorChanged):
        return event.change.client_id == viewer.client_id
    if not isinstance(event, RequestChanged):
        return False
    request = event.request
    if request.client_id == viewer.client_id:
        return True
    # Someone else's request: it moves ours when it leaves the queue (or an assignment changes
    # the rate the wait is estimated from) in the same channel.
    queued = mine.queued
    return (
        queued is not None
        and request.channel is queued.channel
        and request.status is not RequestStatus.QUEUED
    )
