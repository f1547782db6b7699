"""What committed events mean to open subscriptions, without I/O.

Sessions are pushed, not polled: `session_after` tells from an event alone whether it ended a
subscriber's session or changed its role. Events are routed by topic (`topics_of`): a subscription
listens to the topics it may care about and is never woken by the rest. Availability comes from an
`AvailabilityBoard`: the counsellors and settings of the deployment, kept current by the events,
from which the routing policy answers per primary; each change says which primaries' answers it may
have moved (`Moved`), so an idle widget costs nothing.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from itertools import islice

from domain.events import (
    CounsellorStateChanged,
    Event,
    PrimaryCounsellorChanged,
    RequestChanged,
    SessionsEnded,
    SettingsChanged,
)
from domain.model import Channel, Counsellor, RequestStatus, Role, Settings, StaffRole, Viewer
from domain.policy import fallback_takes, may_take
from domain.use_cases.availability import Presence, delivers, presence

# Topics: what an event may concern. A subscription listens to some; an event reaches only those
# listening to one of its topics (events that say events were lost reach everyone).
Topic = Hashable
EVERY_COUNSELLOR: Topic = "counsellors"
EVERY_REQUEST: Topic = "requests"
EVERY_PRIMARY_CHANGE: Topic = "primary changes"
SETTINGS: Topic = "settings"


def counsellor_topic(counsellor_id: int) -> Topic:
    """A counsellor's state and the end of their sessions."""
    return ("counsellor", counsellor_id)


def client_topic(client_id: int) -> Topic:
    """A client's requests, primary changes and the end of their sessions."""
    return ("client", client_id)


def request_topic(request_id: int) -> Topic:
    return ("request", request_id)


def assigned_topic(counsellor_id: int) -> Topic:
    """Requests routed to a counsellor."""
    return ("assigned", counsellor_id)


def queue_topic(channel: Channel) -> Topic:
    """Requests leaving a channel's queue or assigned in it: queued clients' places move."""
    return ("queue", channel)


def primary_seen_topic(counsellor_id: int) -> Topic:
    """Primary changes of clients a counsellor could see before or after the change."""
    return ("primary seen", counsellor_id)


def topics_of(event: Event) -> tuple[Topic, ...]:
    """The topics of an event (StateMayBeStale has none: it goes to every subscription)."""
    if isinstance(event, CounsellorStateChanged):
        return (counsellor_topic(event.counsellor.id), EVERY_COUNSELLOR)
    if isinstance(event, RequestChanged):
        request = event.request
        found = [request_topic(request.id), client_topic(request.client_id), EVERY_REQUEST]
        if event.assigned and request.counsellor_id is not None:
            found.append(assigned_topic(request.counsellor_id))
        if request.status is not RequestStatus.QUEUED:
            found.append(queue_topic(request.channel))
        return tuple(found)
    if isinstance(event, PrimaryCounsellorChanged):
        seen = (primary_seen_topic(c) for c in event.visible_to)
        return (client_topic(event.change.client_id), EVERY_PRIMARY_CHANGE, *seen)
    if isinstance(event, SessionsEnded):
        found = []
        if event.counsellor_id is not None:
            found.append(counsellor_topic(event.counsellor_id))
        if event.client_id is not None:
            found.append(client_topic(event.client_id))
        return tuple(found)
    if isinstance(event, SettingsChanged):
        return (SETTINGS,)
    return ()


def session_topics(viewer: Viewer) -> tuple[Topic, ...]:
    """The topics of the events that can end a viewer's session or change its role."""
    if viewer.counsellor_id is not None:
        return (counsellor_topic(viewer.counsellor_id),)
    if viewer.client_id is not None:
        return (client_topic(viewer.client_id),)
    return ()


def session_after(viewer: Viewer, event: Event) -> Viewer | None:
    """The viewer after `event`: None when the event ended its session (logout of its token, every
    session of its account, deactivation); a counsellor's role follows their account at once."""
    if viewer.is_anonymous:
        return viewer
    if isinstance(event, SessionsEnded):
        account = (event.counsellor_id is not None and event.counsellor_id == viewer.counsellor_id) or (
            event.client_id is not None and event.client_id == viewer.client_id
        )
        return None if account and event.token_id in (None, viewer.token_id) else viewer
    if isinstance(event, CounsellorStateChanged) and event.counsellor.id == viewer.counsellor_id:
        counsellor = event.counsellor
        # Greater, not different: a state published before this session began may arrive late.
        if not counsellor.active or counsellor.session_generation > viewer.session_generation:
            return None
        role = Role.ADMIN if counsellor.role is StaffRole.ADMIN else Role.COUNSELLOR
        return viewer if role is viewer.role else replace(viewer, role=role)
    return viewer


@dataclass(frozen=True)
class Answer:
    """Availability for every client with the same primary (and for anonymous visitors: none).
    Equal answers read the same to a client (the primary's presence holds only what they see)."""

    chat_available: bool
    mail_available: bool
    primary: Presence | None = None


@dataclass(frozen=True)
class Moved:
    """Whose answers a change may have moved: everyone's, or only those of these primaries."""

    everyone: bool = False
    primaries: frozenset[int] = frozenset()


EVERYONE = Moved(everyone=True)
CHANNELS = (Channel.CHAT, Channel.MAIL)
# A probe needs one free counsellor besides the primary to be answered; two spare the doubt.
PROBE_CANDIDATES = 2


class AvailabilityBoard:
    """Counsellors and settings as the events left them; answers per primary by the routing policy,
    computed from the counsellors free for anyone's client (kept per channel) and the primary."""

    def __init__(self, counsellors: Iterable[Counsellor], settings: Settings) -> None:
        self._counsellors: dict[int, Counsellor] = {}
        self._free: dict[Channel, dict[int, Counsellor]] = {c: {} for c in CHANNELS}
        self._settings = settings
        self._answers: dict[int | None, Answer] = {}
        self.reload(counsellors, settings)

    def apply(self, event: Event) -> Moved | None:
        """Take in an event; whose answers it may have moved, or None when it changed nothing
        answers are computed from."""
        if isinstance(event, SettingsChanged):
            if event.settings == self._settings:
                return None
            self._settings = replace(event.settings)
            self._answers = {}
            return EVERYONE
        if not isinstance(event, CounsellorStateChanged):
            return None
        counsellor = event.counsellor
        before = self._counsellors.get(counsellor.id)
        if before == counsellor:
            return None
        self._counsellors[counsellor.id] = counsellor
        moved = self._place(counsellor) or self._is_fallback(before, counsellor)
        if moved:
            self._answers = {}
            return EVERYONE
        self._answers.pop(counsellor.id, None)
        return Moved(primaries=frozenset({counsellor.id}))

    def _place(self, counsellor: Counsellor) -> bool:
        """Keep the free sets current; True when one of them changed."""
        changed = False
        for channel in CHANNELS:
            free = self._free[channel]
            now_free = may_take(counsellor, channel, None)
            if now_free != (counsellor.id in free):
                changed = True
            if now_free:
                free[counsellor.id] = counsellor
            else:
                free.pop(counsellor.id, None)
        return changed

    def _is_fallback(self, before: Counsellor | None, after: Counsellor) -> bool:
        """Whether the fallback counsellor's willingness to take mail changed."""
        if after.id != self._settings.fallback_counsellor_id:
            return False
        return before is None or fallback_takes(before) != fallback_takes(after)

    def reload(self, counsellors: Iterable[Counsellor], settings: Settings) -> None:
        """Start again from the database's state (after events may have been lost)."""
        self._counsellors = {c.id: c for c in counsellors}
        self._free = {c: {} for c in CHANNELS}
        for counsellor in self._counsellors.values():
            self._place(counsellor)
        self._settings = settings
        self._answers = {}

    def answer(self, primary_id: int | None, now: datetime) -> Answer:
        """Would a new chat or mail from a client of `primary_id` (None: nobody's) be delivered now?

        The same object for everyone asking between two changes that may move it. (The policy's
        probe does not depend on `now` beyond its trace.)
        """
        found = self._answers.get(primary_id)
        if found is None:
            found = self._answers[primary_id] = self._compute(primary_id, now)
        return found

    def _compute(self, primary_id: int | None, now: datetime) -> Answer:
        primary = self._counsellors.get(primary_id) if primary_id is not None else None
        fallback_id = self._settings.fallback_counsellor_id
        fallback = self._counsellors.get(fallback_id) if fallback_id is not None else None

        def on(channel: Channel) -> bool:
            # Whoever else could take it is free for anyone's client: a few of them stand for all.
            others = (c for c in self._free[channel].values() if c.id != primary_id)
            spare = fallback if channel is Channel.MAIL else None
            candidates = list(islice(others, PROBE_CANDIDATES))
            return delivers(channel, primary, candidates, spare, self._settings, now)

        shown = presence(primary, primary.id) if primary is not None else None
        return Answer(on(Channel.CHAT), on(Channel.MAIL), shown)
