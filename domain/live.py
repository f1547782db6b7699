"""What committed events mean to open subscriptions, without I/O.

Sessions are pushed, not polled: `session_after` tells from an event alone whether it ended a
subscriber's session or changed its role. Availability comes from an `AvailabilityBoard`: the
counsellors and settings of the deployment, kept current by the events, from which the routing
policy answers once per change for everyone with the same primary.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from domain.events import CounsellorStateChanged, Event, SessionsEnded, SettingsChanged
from domain.model import Channel, Counsellor, Role, Settings, StaffRole, Viewer
from domain.use_cases.availability import Presence, delivers, presence


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
    """Availability for every client with the same primary (and for anonymous visitors: none)."""

    chat_available: bool
    mail_available: bool
    primary: Presence | None = None


class AvailabilityBoard:
    """Counsellors and settings as the events left them; answers per primary, computed once per
    change. `version` grows with every change that may alter an answer."""

    def __init__(self, counsellors: Iterable[Counsellor], settings: Settings) -> None:
        self._counsellors = {c.id: c for c in counsellors}
        self._settings = settings
        self._answers: dict[int | None, Answer] = {}
        self.version = 0

    def apply(self, event: Event) -> bool:
        """Take in an event; True when it changed what answers are computed from."""
        if isinstance(event, CounsellorStateChanged):
            if self._counsellors.get(event.counsellor.id) == event.counsellor:
                return False
            self._counsellors[event.counsellor.id] = event.counsellor
        elif isinstance(event, SettingsChanged):
            if event.settings == self._settings:
                return False
            self._settings = replace(event.settings)
        else:
            return False
        self._changed()
        return True

    def reload(self, counsellors: Iterable[Counsellor], settings: Settings) -> None:
        """Start again from the database's state (after events may have been lost)."""
        self._counsellors = {c.id: c for c in counsellors}
        self._settings = settings
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._answers = {}

    def answer(self, primary_id: int | None, now: datetime) -> Answer:
        """Would a new chat or mail from a client of `primary_id` (None: nobody's) be delivered now?

        The same object for everyone asking between two changes. (The policy's probe does not
        depend on `now` beyond its trace.)
        """
        found = self._answers.get(primary_id)
        if found is None:
            found = self._answers[primary_id] = self._compute(primary_id, now)
        return found

    def _compute(self, primary_id: int | None, now: datetime) -> Answer:
        primary = self._counsellors.get(primary_id) if primary_id is not None else None
        everyone = list(self._counsellors.values())
        fallback_id = self._settings.fallback_counsellor_id
        fallback = self._counsellors.get(fallback_id) if fallback_id is not None else None

        def on(channel: Channel) -> bool:
            spare = fallback if channel is Channel.MAIL else None
            return delivers(channel, primary, everyone, spare, self._settings, now)

        shown = presence(primary, primary.id) if primary is not None else None
        return Answer(on(Channel.CHAT), on(Channel.MAIL), shown)
