"""counsellorAvailabilityChanged: staff watching their colleagues' state."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from strawberry.types.nodes import SelectedField, Selection

from domain.events import CounsellorStateChanged, Event
from domain.live import EVERY_COUNSELLOR, Topic, counsellor_topic
from domain.model import Counsellor as DomainCounsellor
from domain.model import Viewer
from domain.use_cases import counsellors
from graph.context import GraphInfo
from graph.feeds.feed import Feed
from graph.live import live_view
from graph.types.counsellor import Counsellor

# The Counsellor fields every staff member reads alike (not primaryClients: which clients it
# lists depends on who reads it).
READ_ALIKE = frozenset(
    {
        "__typename",
        "id",
        "displayName",
        "email",
        "firstName",
        "lastName",
        "role",
        "active",
        "onlineStatus",
        "chatCapacity",
        "activeChatCount",
        "mailAvailability",
        "mailResources",
        "openMailCount",
        "freeMailResources",
        "absent",
        "absenceMessage",
        "onlyOwnClients",
        "primaryClientCount",
        "invitationStatus",
        "lastLoginAt",
    }
)


def reads_alike(info: GraphInfo) -> bool:
    """Whether the subscription's document selects only fields every staff member reads alike."""
    return all(_alike(field.selections) for field in info.selected_fields)


def _alike(selections: Iterable[Selection]) -> bool:
    for selection in selections:
        if isinstance(selection, SelectedField):
            if selection.name not in READ_ALIKE or selection.selections:
                return False
        elif not _alike(selection.selections):  # a fragment
            return False
    return True


class ColleagueFeed(Feed):
    """Staff watching a colleague's state (one, or all): each change as it comes, the payload
    shared by every staff member whose document reads alike. A change taken while the state is
    read (first, or after a gap) goes out after what the read found, which may be older."""

    __slots__ = ("_alike", "_since_read", "_target")

    def __init__(self, info: GraphInfo, viewer: Viewer, target: int | None) -> None:
        super().__init__(info, viewer)
        self._target = target
        self._alike = reads_alike(info)
        self._since_read: dict[int, DomainCounsellor] = {}

    def topics(self) -> Iterable[Topic]:
        return (counsellor_topic(self._target),) if self._target is not None else (EVERY_COUNSELLOR,)

    async def _current(self, seen_by: Viewer) -> list[DomainCounsellor]:
        deps = self.context.deps
        if self._target is not None:
            return [await counsellors.get_counsellor(deps, seen_by, self._target)]
        return await counsellors.list_counsellors(deps, seen_by, None, None)

    async def read_state(self) -> None:
        self._send_read(await self._current(self.viewer))

    def take_event(self, event: Event) -> None:
        if isinstance(event, CounsellorStateChanged) and self._target in (None, event.counsellor.id):
            if self.reading():
                self._since_read[event.counsellor.id] = event.counsellor
            else:
                self._show(event.counsellor)

    def _show(self, counsellor: DomainCounsellor) -> None:
        live = live_view(self.context.state)
        shown = live.colleague(counsellor) if self._alike else Counsellor.of(counsellor, self.viewer)
        self.send(counsellor.id, shown)

    def _send_read(self, found: list[DomainCounsellor]) -> None:
        for counsellor in found:
            self.send(counsellor.id, Counsellor.of(counsellor, self.viewer))
        since, self._since_read = self._since_read, {}
        for counsellor in since.values():
            self._show(counsellor)

    async def catch_up(self, due: set[str]) -> None:
        # Staff see every counsellor alike: one read per gap serves every subscriber.
        gap, live = self._gap, live_view(self.context.state)
        read = partial(self._current, self.viewer)
        self._send_read(
            await live.per_event.once(gap, self._target, read) if gap is not None else await read()
        )
