"""Monitoring: the catalogue of topics, documented counselling contacts, and their statistics for
funders with small counts suppressed (docs/decisions.md, "Monitoring statistics")."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.errors import BadUserInput, Forbidden
from domain.model import Channel, Viewer

MAX_TOPIC_NAME = 200
MAX_OUTCOME = 500
MAX_ENTRY_NOTE = 20_000
MIN_DURATION_MINUTES = 1
MAX_DURATION_MINUTES = 1440  # one day
DEFAULT_MIN_CELL = 5
# A statistics query spans at most this many months (it is rounded to whole months anyway).
MAX_STATISTICS_MONTHS = 120


@dataclass
class MonitoringTopic:
    """A category (no parent) or an option of a category; only active options are chosen."""

    id: int
    name: str
    parent_id: int | None = None
    active: bool = True


@dataclass(frozen=True)
class Catalogue:
    """Every topic, active or not (inactive ones stay on old entries)."""

    topics: dict[int, MonitoringTopic] = field(default_factory=dict)

    @classmethod
    def of(cls, topics: Iterable[MonitoringTopic]) -> Catalogue:
        return cls({t.id: t for t in topics})

    def categories(self) -> list[MonitoringTopic]:
        return sorted((t for t in self.topics.values() if t.parent_id is None), key=_by_name)

    def children(self, topic_id: int) -> list[MonitoringTopic]:
        return sorted((t for t in self.topics.values() if t.parent_id == topic_id), key=_by_name)

    def choosable(self, topic_id: int) -> bool:
        """An active option whose category is active too."""
        topic = self.topics.get(topic_id)
        if topic is None or topic.parent_id is None or not topic.active:
            return False
        parent = self.topics.get(topic.parent_id)
        return parent is not None and parent.active

    def chosen(self, topic_ids: Iterable[int], field_name: str) -> tuple[int, ...]:
        """The distinct topics of an entry, in the order given; BAD_USER_INPUT unless each is an
        active option, or when there are none."""
        found = tuple(dict.fromkeys(topic_ids))
        if not found:
            raise BadUserInput(f"{field_name} must name at least one topic.", field=field_name)
        for topic_id in found:
            if not self.choosable(topic_id):
                raise BadUserInput(
                    f"{field_name} names a topic that is not an active option of an active category.",
                    field=field_name,
                )
        return found


def _by_name(topic: MonitoringTopic) -> tuple[str, int]:
    return topic.name.casefold(), topic.id


@dataclass
class MonitoringEntry:
    """One documented counselling contact; outcome and note are encrypted at rest."""

    id: int
    client_id: int
    counsellor_id: int | None
    contact_at: datetime
    channel: Channel
    duration_minutes: int
    topic_ids: tuple[int, ...]
    created_at: datetime
    outcome: str | None = None
    note: str | None = None


def require_entry_editor(viewer: Viewer, entry: MonitoringEntry) -> None:
    """The counsellor who documented the contact changes it; admins any; other staff only read it."""
    if viewer.is_admin or (viewer.counsellor_id is not None and viewer.counsellor_id == entry.counsellor_id):
        return
    raise Forbidden("Only the entry's counsellor or an admin may change it.", field="id")


def duration(value: int, field_name: str) -> int:
    if not MIN_DURATION_MINUTES <= value <= MAX_DURATION_MINUTES:
        raise BadUserInput(
            f"{field_name} must be between {MIN_DURATION_MINUTES} and {MAX_DURATION_MINUTES} minutes.",
            field=field_name,
        )
    return value


# --- Statistics ---------------------------------------------------------------------------------


def utc(moment: datetime) -> datetime:
    """A moment in UTC; one given without an offset is read as UTC (the API's DateTime allows it)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def month_start(moment: datetime) -> datetime:
    moment = moment.astimezone(UTC)
    return datetime(moment.year, moment.month, 1, tzinfo=UTC)


def next_month(moment: datetime) -> datetime:
    start = month_start(moment)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def whole_months(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end) widened to whole calendar months (UTC): the first month `start` falls in up to
    the end of the month of the last moment before `end`. Every query then counts whole months, so
    two queries with nearby bounds never differ by a few contacts (a differencing attack)."""
    start, end = utc(start), utc(end)
    if end <= start:
        raise BadUserInput("to must be later than from.", field="to")
    first = month_start(start)
    # `to` on a month boundary ends the month before it; anywhere else, the month it falls in.
    last = end if month_start(end) == end else next_month(end)
    months = (last.year - first.year) * 12 + last.month - first.month
    if months > MAX_STATISTICS_MONTHS:
        raise BadUserInput(f"from and to may span at most {MAX_STATISTICS_MONTHS} months.", field="to")
    return first, last


@dataclass(frozen=True)
class ContactCount:
    """Contacts (and the distinct clients among them) of one month, channel, topic and, when counted
    per counsellor, counsellor: what the database counts."""

    month: str  # YYYY-MM
    channel: Channel
    topic_id: int
    counsellor_id: int | None
    contacts: int
    clients: int


@dataclass(frozen=True)
class StatisticsCell:
    month: str
    channel: Channel
    topic_id: int
    counsellor_id: int | None
    contacts: int | None  # None when suppressed
    suppressed: bool


def suppressed_cells(counts: Iterable[ContactCount], min_cell: int) -> list[StatisticsCell]:
    """Cells with fewer than `min_cell` contacts or clients are withheld (primary suppression).

    Counted per counsellor, the cells of one month, channel and topic add up to the cell published
    without counsellors: one withheld cell among them would be that total minus the others. So
    within such a group, while the withheld contacts are fewer than `min_cell` or only one cell is
    withheld, the smallest published cell is withheld too (secondary suppression)."""
    groups: dict[tuple[str, Channel, int], list[ContactCount]] = defaultdict(list)
    for count in counts:
        groups[(count.month, count.channel, count.topic_id)].append(count)
    cells: list[StatisticsCell] = []
    for group in groups.values():
        withheld = {id(c) for c in group if c.contacts < min_cell or c.clients < min_cell}
        if withheld and len(group) > 1:
            shown = sorted(
                (c for c in group if id(c) not in withheld), key=lambda c: (c.contacts, c.counsellor_id or 0)
            )
            while shown and (
                len(withheld) < 2 or sum(c.contacts for c in group if id(c) in withheld) < min_cell
            ):
                withheld.add(id(shown.pop(0)))
        for c in group:
            hidden = id(c) in withheld
            cells.append(
                StatisticsCell(
                    c.month, c.channel, c.topic_id, c.counsellor_id, None if hidden else c.contacts, hidden
                )
            )
    cells.sort(key=lambda c: (c.month, c.channel.value, c.topic_id, c.counsellor_id or 0))
    return cells
