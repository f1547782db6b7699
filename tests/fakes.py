"""In-memory fakes of the ports in domain/ports.py, for unit tests without a database.

One `Store` holds every table. Each unit of work deep-copies it on entry and swaps its copy in
on commit, so a unit of work left without commit changes nothing. Repositories hand out copies
and write on `save`, like the SQL adapter: a use case that forgets to save loses the change here
too. `candidates` and `claim` use the domain policy predicates, so they agree with the SQL that
mirrors them. There is no locking (tests run one transaction at a time), but like the SQL adapter
a whole-row write (`save`, `erase`) is refused unless the unit of work took the row with `lock`.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from domain.errors import EmailTaken
from domain.events import Event
from domain.model import (
    AccountStatus,
    AuditEntry,
    Channel,
    Client,
    Counsellor,
    Document,
    Invitation,
    InvitationStatus,
    InvitationToken,
    OnlineStatus,
    OutgoingMail,
    PrimaryCounsellorChange,
    Request,
    RequestStatus,
    Settings,
    StaffRole,
    Viewer,
)
from domain.monitoring import ContactCount, MonitoringEntry, MonitoringTopic
from domain.notes import Note
from domain.policy import choice_key, free_on, may_take
from domain.ports import (
    Attempt,
    AuditLog,
    ClientPage,
    ClientQuery,
    ClientRepository,
    CounsellorRepository,
    DocumentRepository,
    EmailAddresses,
    InvitationOutbox,
    InvitationRepository,
    MailOutbox,
    MonitoringRepository,
    NoteRepository,
    Page,
    PrimaryHistoryRepository,
    RateLimitRepository,
    RecentRequest,
    RequestQuery,
    RequestRepository,
    SettingsRepository,
    Submitter,
    TokenRepository,
)
from domain.throttling import retry_after
from domain.use_cases.routing import Dispatcher
from domain.visibility import sees_client, sees_primary_change, sees_request

T = TypeVar("T")

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
# The tests' key of attempt counters' hashes (production derives one from STAMM_SECRET_KEY).
COUNTER_SECRET = b"stamm tests: attempt counter key"
SETTINGS_ROW = 1


@dataclass
class Store:
    """Every table of the fake database."""

    counsellors: dict[int, Counsellor] = field(default_factory=dict)
    clients: dict[int, Client] = field(default_factory=dict)
    requests: dict[int, Request] = field(default_factory=dict)
    handlers: set[tuple[int, int]] = field(default_factory=set)  # (request_id, counsellor_id)
    history: list[PrimaryCounsellorChange] = field(default_factory=list)
    settings: Settings = field(default_factory=Settings)
    revoked: dict[str, datetime] = field(default_factory=dict)
    invitations: list[Invitation] = field(default_factory=list)
    limit_hits: list[tuple[str, datetime, int]] = field(default_factory=list)  # (key, at, id)
    audit: list[AuditEntry] = field(default_factory=list)
    notes: dict[int, Note] = field(default_factory=dict)
    topics: dict[int, MonitoringTopic] = field(default_factory=dict)
    entries: dict[int, MonitoringEntry] = field(default_factory=dict)
    documents: dict[int, Document] = field(default_factory=dict)
    last_ids: dict[str, int] = field(default_factory=dict)
    # Member management: invitation tokens (with their use time) and the mail outbox.
    tokens: dict[str, tuple[InvitationToken, datetime | None]] = field(default_factory=dict)
    mails: list[OutgoingMail] = field(default_factory=list)

    def next_id(self, table: str) -> int:
        self.last_ids[table] = self.last_ids.get(table, 0) + 1
        return self.last_ids[table]


def _page(rows: list[T], key: Callable[[T], int], first: int, after: str | None) -> Page[T]:
    """Keyset-style page over already sorted rows; the cursor is the row's id."""
    start = 0
    if after is not None:
        ids = [str(key(row)) for row in rows]
        start = ids.index(after) + 1 if after in ids else len(rows)
    chunk = rows[start : start + first]
    return Page([(str(key(row)), row) for row in chunk], start + first < len(rows), len(rows))


def _unique_email(accounts: Iterable[Client | Counsellor], email: str | None, own_id: int) -> None:
    """Like each table's unique index on e-mail."""
    if email is not None and any(a.email == email and a.id != own_id for a in accounts):
        raise EmailTaken()


def _accept_invitation(account: Client | Counsellor, password_hash: str, at: datetime) -> int:
    """Sets the first password and signs in; like the SQL adapter, ends every older session."""
    account.password_hash, account.invitation_status, account.last_login_at = (
        password_hash,
        InvitationStatus.REGISTERED,
        at,
    )
    account.session_generation += 1
    return account.session_generation


def _replace_password(account: Client | Counsellor, verified_hash: str, new_hash: str) -> int | None:
    """Only over the hash the caller verified (None if it changed meanwhile); ends older sessions."""
    if account.password_hash != verified_hash:
        return None
    account.password_hash = new_hash
    account.session_generation += 1
    return account.session_generation


class _Row(Protocol):
    @property
    def id(self) -> int: ...


R = TypeVar("R", bound=_Row)


def _copy_of(rows: dict[int, R], row_id: int) -> R | None:
    """A row read back: a copy the caller may change without writing it."""
    found = rows.get(row_id)
    return copy.copy(found) if found else None


def _insert(rows: dict[int, R], added: R) -> R:
    """Stores a new row (its id already drawn) and hands back a copy, like `_copy_of`."""
    rows[added.id] = added
    return copy.copy(added)


def _write_keeping(rows: dict[int, R], row: R, kept: Sequence[str], **changes: Any) -> R:
    """Writes `row` whole but for the `kept` columns (other writes own them); returns the row
    as it was stored before."""
    stored = rows[row.id]
    rows[row.id] = replace(row, **{name: getattr(stored, name) for name in kept}, **changes)  # type: ignore[type-var]
    return stored


def _erase_texts(rows: Iterable[Request | MonitoringEntry], client_id: int, *texts: str) -> int:
    """Blanks the personal `texts` of the client's rows; counts the rows it touched."""
    erased = 0
    for row in rows:
        if row.client_id == client_id:
            for name in texts:
                setattr(row, name, None)
            erased += 1
    return erased


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow
        self._locked: set[int] = set()  # like the SQL adapter: only locked rows are written whole

    def _require_lock(self, row_id: int) -> None:
        if row_id not in self._locked:
            raise RuntimeError("a row is written whole only while this transaction locks it")

    @property
    def _store(self) -> Store:
        return self._uow.store


class FakeCounsellorRepository(_Repo):
    async def get(self, counsellor_id: int) -> Counsellor | None:
        return _copy_of(self._store.counsellors, counsellor_id)

    async def get_many(self, ids: Sequence[int]) -> dict[int, Counsellor]:
        return {i: copy.copy(c) for i in ids if (c := self._store.counsellors.get(i)) is not None}

    async def by_email(self, email: str) -> Counsellor | None:
        found = [c for c in self._store.counsellors.values() if c.email.lower() == email.lower()]
        return copy.copy(found[0]) if found else None

    async def add(self, counsellor: Counsellor) -> Counsellor:
        _unique_email(self._store.counsellors.values(), counsellor.email, 0)
        added = replace(counsellor, id=self._store.next_id("counsellor"))
        return _insert(self._store.counsellors, added)

    async def save(self, counsellor: Counsellor) -> None:
        """Everything but the loads and last assignments (only claim/release change them) and the
        last sign of life (only touch changes it); like the SQL adapter, reports the stored loads."""
        self._require_lock(counsellor.id)
        kept = (
            "active_chat_count",
            "open_mail_count",
            "last_chat_assigned_at",
            "last_mail_assigned_at",
            "last_seen_at",
        )
        stored = _write_keeping(self._store.counsellors, counsellor, kept)
        counsellor.active_chat_count = stored.active_chat_count
        counsellor.open_mail_count = stored.open_mail_count

    async def lock(self, counsellor_id: int) -> Counsellor | None:
        self._locked.add(counsellor_id)
        return await self.get(counsellor_id)

    async def record_login(self, counsellor_id: int, at: datetime) -> None:
        if (found := self._store.counsellors.get(counsellor_id)) is not None:
            found.last_login_at = at

    async def accept_invitation(self, counsellor_id: int, password_hash: str, at: datetime) -> int | None:
        found = self._store.counsellors.get(counsellor_id)
        if found is None or not found.active:
            return None
        return _accept_invitation(found, password_hash, at)

    async def lock_active_admins(self) -> list[int]:
        found = sorted(
            c.id for c in self._store.counsellors.values() if c.role is StaffRole.ADMIN and c.active
        )
        self._locked.update(found)
        return found

    async def primary_client_counts(self, counsellor_ids: Sequence[int]) -> dict[int, int]:
        clients = self._store.clients.values()
        return {i: sum(1 for c in clients if c.primary_counsellor_id == i) for i in counsellor_ids}

    async def sign_off(self, counsellor_id: int) -> Counsellor | None:
        counsellor = self._store.counsellors.get(counsellor_id)
        if counsellor is None or counsellor.online_status is OnlineStatus.OFFLINE:
            return None
        counsellor.online_status = OnlineStatus.OFFLINE
        return copy.copy(counsellor)

    async def replace_password(self, counsellor_id: int, verified_hash: str, new_hash: str) -> int | None:
        counsellor = self._store.counsellors.get(counsellor_id)
        if counsellor is None or not counsellor.active:
            return None
        return _replace_password(counsellor, verified_hash, new_hash)

    async def filtered(self, online_status: OnlineStatus | None, active: bool | None) -> list[Counsellor]:
        rows = [
            copy.copy(c)
            for c in self._store.counsellors.values()
            if (online_status is None or c.online_status is online_status)
            and (active is None or c.active is active)
        ]
        return sorted(rows, key=lambda c: (c.display_name.lower(), c.id))

    async def candidates(self, channel: Channel, primary_id: int | None, limit: int) -> list[Counsellor]:
        free = [c for c in self._store.counsellors.values() if may_take(c, channel, primary_id)]
        return [copy.copy(c) for c in sorted(free, key=lambda c: choice_key(c, channel))[:limit]]

    async def claim(
        self, counsellor_id: int, channel: Channel, now: datetime, checked: bool
    ) -> Counsellor | None:
        counsellor = self._store.counsellors.get(counsellor_id)
        if counsellor is None or (checked and not free_on(counsellor, channel)):
            return None
        if channel is Channel.CHAT:
            counsellor.active_chat_count += 1
            counsellor.last_chat_assigned_at = now
        else:
            counsellor.open_mail_count += 1
            counsellor.last_mail_assigned_at = now
        return copy.copy(counsellor)

    async def claim_first(
        self, counsellor_ids: Sequence[int], channel: Channel, now: datetime
    ) -> Counsellor | None:
        for counsellor_id in counsellor_ids:
            if (claimed := await self.claim(counsellor_id, channel, now, checked=True)) is not None:
                return claimed
        return None

    async def release(self, counsellor_id: int, channel: Channel) -> Counsellor | None:
        counsellor = self._store.counsellors.get(counsellor_id)
        if counsellor is None:
            return None
        if channel is Channel.CHAT:
            counsellor.active_chat_count = max(counsellor.active_chat_count - 1, 0)
        else:
            counsellor.open_mail_count = max(counsellor.open_mail_count - 1, 0)
        return copy.copy(counsellor)

    async def touch(self, counsellor_ids: Sequence[int], now: datetime) -> None:
        for counsellor_id in set(counsellor_ids):
            if (counsellor := self._store.counsellors.get(counsellor_id)) is not None:
                counsellor.last_seen_at = now

    async def lapse(self, silent_since: datetime) -> list[Counsellor]:
        """Everyone not OFFLINE never seen or last seen before `silent_since` goes OFFLINE."""
        lapsed: list[Counsellor] = []
        for counsellor in sorted(self._store.counsellors.values(), key=lambda c: c.id):
            silent = counsellor.last_seen_at is None or counsellor.last_seen_at < silent_since
            if counsellor.online_status is not OnlineStatus.OFFLINE and silent:
                counsellor.online_status = OnlineStatus.OFFLINE
                lapsed.append(copy.copy(counsellor))
        return lapsed


class FakeClientRepository(_Repo):
    async def get(self, client_id: int) -> Client | None:
        return _copy_of(self._store.clients, client_id)

    async def get_many(self, ids: Sequence[int]) -> dict[int, Client]:
        return {i: copy.copy(c) for i in ids if (c := self._store.clients.get(i)) is not None}

    async def lock(self, client_id: int) -> Client | None:
        self._locked.add(client_id)
        return await self.get(client_id)

    async def change_status(
        self, client_id: int, to: AccountStatus, expected: Sequence[AccountStatus], **times: datetime | None
    ) -> Client | None:
        found = self._store.clients.get(client_id)
        if found is None or found.account_status not in expected or found.erased_at is not None:
            return None
        found.account_status = to
        for name, value in times.items():
            setattr(found, name, value)
        if to is not AccountStatus.ACTIVE:
            found.session_generation += 1
        return copy.copy(found)

    async def accept_invitation(self, client_id: int, password_hash: str, at: datetime) -> int | None:
        found = self._store.clients.get(client_id)
        if found is None or found.account_status is not AccountStatus.ACTIVE:
            return None
        return _accept_invitation(found, password_hash, at)

    async def erasure_due(self, now: datetime, limit: int) -> list[int]:
        due = [
            c.id
            for c in self._store.clients.values()
            if c.account_status is AccountStatus.DELETED
            and c.erased_at is None
            and c.erasure_due_at is not None
            and c.erasure_due_at <= now
        ]
        return due[:limit]

    async def lock_submitter(self, client_id: int, token_id: str | None) -> Submitter | None:
        client = await self.lock(client_id)
        if client is None:
            return None
        return Submitter(client, token_id in self._store.revoked, copy.copy(self._store.settings))

    async def by_email(self, email: str) -> Client | None:
        found = [c for c in self._store.clients.values() if (c.email or "").lower() == email.lower()]
        return copy.copy(found[0]) if found else None

    async def code_taken(self, code: str) -> bool:
        return any(c.client_code == code for c in self._store.clients.values())

    async def add(self, client: Client) -> Client:
        _unique_email(self._store.clients.values(), client.email, 0)
        added = replace(client, id=self._store.next_id("client"))
        return _insert(self._store.clients, added)

    async def record_login(self, client_id: int, at: datetime) -> bool:
        client = self._store.clients.get(client_id)
        if client is None or client.account_status is not AccountStatus.ACTIVE:
            return False
        client.last_login_at = at
        return True

    async def save_profile(self, client: Client) -> None:
        self._require_lock(client.id)
        _unique_email(self._store.clients.values(), client.email, client.id)
        stored = self._store.clients[client.id]
        for name in ("display_name", "email", "first_name", "last_name", "phone", "language"):
            setattr(stored, name, getattr(client, name))

    async def set_invitation_status(self, client_id: int, status: InvitationStatus) -> None:
        self._store.clients[client_id].invitation_status = status

    async def replace_password(self, client_id: int, verified_hash: str, new_hash: str) -> int | None:
        client = self._store.clients.get(client_id)
        if client is None or client.account_status is not AccountStatus.ACTIVE:
            return None
        return _replace_password(client, verified_hash, new_hash)

    async def set_primary(self, client_id: int, new_id: int | None, expected: int | None) -> bool:
        stored = self._store.clients[client_id]
        if stored.primary_counsellor_id != expected:
            return False
        stored.primary_counsellor_id = new_id
        return True

    async def visible_page(
        self, viewer: Viewer, query: ClientQuery, first: int, after: str | None
    ) -> ClientPage:
        rows = [
            copy.copy(c)
            for c in self._store.clients.values()
            if _matches_client(c, query, self._store) and sees_client(viewer, c, await self.holder_ids(c.id))
        ]
        rows.sort(key=lambda c: (c.display_name.lower(), c.id))
        page = _page(rows, lambda c: c.id, first, after)
        return ClientPage(page.items, page.has_next, page.total)

    async def holder_ids(self, client_id: int) -> set[int]:
        return {
            r.counsellor_id
            for r in self._store.requests.values()
            if r.client_id == client_id and r.status is RequestStatus.ASSIGNED and r.counsellor_id is not None
        }

    async def holders_of(self, client_ids: Sequence[int]) -> dict[int, set[int]]:
        return {i: await self.holder_ids(i) for i in client_ids}

    async def erase(self, client: Client) -> None:
        """Like the SQL adapter: every column but the primary, of a locked row."""
        self._require_lock(client.id)
        stored = self._store.clients[client.id]
        self._store.clients[client.id] = replace(client, primary_counsellor_id=stored.primary_counsellor_id)

    async def primary_of(self, counsellor_id: int) -> list[Client]:
        found = [c for c in self._store.clients.values() if c.primary_counsellor_id == counsellor_id]
        self._locked.update(c.id for c in found)
        return [copy.copy(c) for c in sorted(found, key=lambda c: c.id)]

    async def related_counsellor_ids(self, client_id: int) -> set[int]:
        on_requests = {r.counsellor_id for r in self._store.requests.values() if r.client_id == client_id}
        in_history = {
            i
            for h in self._store.history
            if h.client_id == client_id
            for i in (h.previous_counsellor_id, h.new_counsellor_id)
        }
        client = self._store.clients.get(client_id)
        current = {client.primary_counsellor_id} if client else set()
        return {i for i in on_requests | in_history | current if i is not None}


def _primary_inactive(client: Client, store: Store) -> bool:
    primary = store.counsellors.get(client.primary_counsellor_id or 0)
    return primary is not None and not primary.active


def _matches_client(client: Client, query: ClientQuery, store: Store) -> bool:
    if (
        query.primary_counsellor_id is not None
        and client.primary_counsellor_id != query.primary_counsellor_id
    ):
        return False
    if query.unassigned is not None and (client.primary_counsellor_id is None) is not query.unassigned:
        return False
    if query.account_status is not None and client.account_status is not query.account_status:
        return False
    if query.primary_inactive is not None and _primary_inactive(client, store) is not query.primary_inactive:
        return False
    if query.search:
        haystack = " ".join(filter(None, [client.display_name, client.client_code, client.email]))
        return query.search.lower() in haystack.lower()
    return True


class FakeRequestRepository(_Repo):
    async def get(self, request_id: int) -> Request | None:
        return _copy_of(self._store.requests, request_id)

    async def add(self, request: Request) -> Request:
        added = replace(request, id=self._store.next_id("request"), updated_at=request.last_changed_at)
        return _insert(self._store.requests, added)

    async def save_transition(self, request: Request) -> None:
        """Like the SQL adapter: the transition's columns only, never texts, client or channel."""
        stored = self._store.requests[request.id]
        self._store.requests[request.id] = replace(
            request,
            client_id=stored.client_id,
            channel=stored.channel,
            subject=stored.subject,
            message=stored.message,
            created_at=stored.created_at,
            idempotency_key=stored.idempotency_key,
            updated_at=request.last_changed_at,
        )

    async def record_handler(self, request_id: int, counsellor_id: int) -> None:
        self._store.handlers.add((request_id, counsellor_id))

    async def handled_by(self, request_id: int, counsellor_id: int) -> bool:
        return (request_id, counsellor_id) in self._store.handlers

    async def lock(self, request_id: int) -> Request | None:
        return await self.get(request_id)

    async def lock_queued(self, request_id: int) -> Request | None:
        found = await self.get(request_id)
        return found if found is not None and found.status is RequestStatus.QUEUED else None

    async def queued(self, limit: int, after_id: int = 0) -> list[Request]:
        rows = [
            r for r in self._store.requests.values() if r.status is RequestStatus.QUEUED and r.id > after_id
        ]
        return [copy.copy(r) for r in sorted(rows, key=lambda r: r.id)[:limit]]

    async def oldest_queued_of(self, client_id: int) -> Request | None:
        rows = [
            r
            for r in self._store.requests.values()
            if r.client_id == client_id and r.status is RequestStatus.QUEUED
        ]
        return copy.copy(min(rows, key=lambda r: r.id)) if rows else None

    async def count_of_client(self, client_id: int, since: datetime | None, open_only: bool) -> int:
        return sum(
            1
            for r in self._store.requests.values()
            if r.client_id == client_id
            and (since is None or r.created_at >= since)
            and (not open_only or r.status in (RequestStatus.QUEUED, RequestStatus.ASSIGNED))
        )

    async def recent_of_client(
        self, client_id: int, since: datetime, idempotency_key: str | None
    ) -> list[RecentRequest]:
        found = []
        for r in self._store.requests.values():
            carries_key = idempotency_key is not None and r.idempotency_key == idempotency_key
            if r.client_id == client_id and (r.is_open or r.created_at >= since or carries_key):
                found.append(RecentRequest(r.id, r.status, r.created_at, r.counsellor_id, carries_key))
        return found

    async def of_client(self, client_id: int) -> list[Request]:
        rows = [r for r in self._store.requests.values() if r.client_id == client_id]
        return [copy.copy(r) for r in sorted(rows, key=lambda r: r.id)]

    async def erase_texts(self, client_id: int) -> int:
        return _erase_texts(self._store.requests.values(), client_id, "subject", "message")

    async def stop_waiting_for(self, counsellor_id: int) -> int:
        """Like the SQL: clears `waiting_for_id` of the queued requests waiting for them."""
        ended = 0
        for request in self._store.requests.values():
            if request.status is RequestStatus.QUEUED and request.waiting_for_id == counsellor_id:
                request.waiting_for_id = None
                ended += 1
        return ended

    def _overdue(self, request: Request, assigned_before: datetime) -> bool:
        return (
            request.status is RequestStatus.ASSIGNED
            and request.channel is Channel.CHAT
            and request.accepted_at is None
            and request.assigned_at is not None
            and request.assigned_at < assigned_before
        )

    async def unaccepted(self, assigned_before: datetime, limit: int) -> list[Request]:
        rows = [r for r in self._store.requests.values() if self._overdue(r, assigned_before)]
        rows.sort(key=lambda r: (r.assigned_at or START, r.id))
        return [copy.copy(r) for r in rows[:limit]]

    async def lock_unaccepted(self, request_id: int, assigned_before: datetime) -> Request | None:
        found = self._store.requests.get(request_id)
        return copy.copy(found) if found is not None and self._overdue(found, assigned_before) else None

    async def queue_position(self, request: Request, now: datetime) -> int:
        """1-based, among the queued requests of the same channel and pool (see the SQL adapter)."""

        def waits(r: Request) -> bool:
            return r.waiting_for_id is not None and r.wait_until is not None and r.wait_until > now

        waiting = waits(request)
        return sum(
            1
            for r in self._store.requests.values()
            if r.status is RequestStatus.QUEUED
            and r.channel is request.channel
            and r.id <= request.id
            and (r.waiting_for_id == request.waiting_for_id and waits(r) if waiting else not waits(r))
        )

    async def assignments_since(self, channel: Channel, since: datetime) -> int:
        return sum(
            1
            for r in self._store.requests.values()
            if r.channel is channel and r.assigned_at is not None and r.assigned_at >= since
        )

    async def queue_summary(self) -> dict[Channel, tuple[int, datetime | None]]:
        found: dict[Channel, tuple[int, datetime | None]] = {}
        for r in self._store.requests.values():
            if r.status is RequestStatus.QUEUED:
                count, oldest = found.get(r.channel, (0, None))
                found[r.channel] = (count + 1, min(filter(None, (oldest, r.created_at))))
        return found

    async def next_wait_end(self, after: datetime) -> datetime | None:
        ends = [
            r.wait_until
            for r in self._store.requests.values()
            if r.status is RequestStatus.QUEUED and r.wait_until is not None and r.wait_until > after
        ]
        return min(ends, default=None)

    async def visible_page(
        self, viewer: Viewer, query: RequestQuery, first: int, after: str | None
    ) -> Page[Request]:
        rows = [copy.copy(r) for r in self._store.requests.values() if _matches_request(r, query)]
        rows = [r for r in rows if self._sees(viewer, r)]
        rows.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return _page(rows, lambda r: r.id, first, after)

    async def visible_first_pages(
        self, viewer: Viewer, client_ids: Sequence[int], first: int
    ) -> dict[int, Page[Request]]:
        return {
            c: await self.visible_page(viewer, RequestQuery(client_id=c), first, None) for c in client_ids
        }

    async def assigned_to_since(self, counsellor_id: int, since: datetime, limit: int) -> list[Request]:
        rows = [
            r
            for r in self._store.requests.values()
            if r.counsellor_id == counsellor_id and r.assigned_at is not None and r.assigned_at >= since
        ]
        rows.sort(key=lambda r: (r.assigned_at or START, r.id))
        return [copy.copy(r) for r in rows[:limit]]

    async def visible_changed_since(
        self, viewer: Viewer, since: datetime, limit: int, request_id: int | None = None
    ) -> list[Request]:
        rows = [
            r
            for r in self._store.requests.values()
            if r.updated_at is not None
            and r.updated_at >= since
            and request_id in (None, r.id)
            and self._sees(viewer, r)
        ]
        rows.sort(key=lambda r: (r.updated_at or START, r.id))
        return [copy.copy(r) for r in rows[:limit]]

    def _sees(self, viewer: Viewer, request: Request) -> bool:
        client = self._store.clients.get(request.client_id)
        primary_id = client.primary_counsellor_id if client else None
        handled = (request.id, viewer.counsellor_id) in self._store.handlers
        return sees_request(viewer, request, primary_id, handled)


def _matches_request(request: Request, query: RequestQuery) -> bool:
    wanted: dict[str, Any] = {
        "channel": query.channel,
        "status": query.status,
        "counsellor_id": query.counsellor_id,
        "client_id": query.client_id,
    }
    return all(value is None or getattr(request, name) == value for name, value in wanted.items())


class FakePrimaryHistoryRepository(_Repo):
    async def add(self, change: PrimaryCounsellorChange) -> PrimaryCounsellorChange:
        added = replace(change, id=self._store.next_id("history"))
        self._store.history.append(added)
        return copy.copy(added)

    async def for_clients(self, client_ids: Sequence[int]) -> dict[int, list[PrimaryCounsellorChange]]:
        ordered = sorted(self._store.history, key=lambda h: (h.changed_at, h.id))
        return {i: [copy.copy(h) for h in ordered if h.client_id == i] for i in client_ids}

    async def visible_since(
        self, viewer: Viewer, since: datetime, limit: int, client_id: int | None = None
    ) -> list[PrimaryCounsellorChange]:
        def visible(change: PrimaryCounsellorChange) -> bool:
            client = self._store.clients.get(change.client_id)
            primary_id = client.primary_counsellor_id if client else None
            holders = {
                r.counsellor_id
                for r in self._store.requests.values()
                if r.client_id == change.client_id and r.holder_id is not None
            }
            return sees_primary_change(viewer, change, primary_id, {h for h in holders if h is not None})

        ordered = sorted(self._store.history, key=lambda h: (h.changed_at, h.id))
        found = [
            h for h in ordered if h.changed_at >= since and client_id in (None, h.client_id) and visible(h)
        ]
        return [copy.copy(h) for h in found[:limit]]


class FakeSettingsRepository(_Repo):
    async def get(self) -> Settings:
        return copy.copy(self._store.settings)

    async def lock(self) -> Settings:
        self._locked.add(SETTINGS_ROW)
        return await self.get()

    async def save(self, settings: Settings) -> None:
        self._require_lock(SETTINGS_ROW)
        self._store.settings = copy.copy(settings)


class FakeTokenRepository(_Repo):
    async def revoke(self, token_id: str, expires_at: datetime) -> None:
        self._store.revoked[token_id] = expires_at

    async def is_revoked(self, token_id: str) -> bool:
        return token_id in self._store.revoked

    async def session(
        self, client: bool, account_id: int, token_id: str
    ) -> tuple[Counsellor | Client | None, bool]:
        accounts: dict[int, Any] = self._store.clients if client else self._store.counsellors
        found = accounts.get(account_id)
        return (copy.copy(found) if found else None), token_id in self._store.revoked


class FakeInvitationOutbox(_Repo):
    async def add(self, invitation: Invitation) -> None:
        self._store.invitations.append(replace(invitation, id=self._store.next_id("invitation")))

    async def of_client(self, client_id: int) -> list[Invitation]:
        return [copy.copy(i) for i in self._store.invitations if i.client_id == client_id]

    async def erase_for(self, client_id: int) -> None:
        self._store.invitations = [i for i in self._store.invitations if i.client_id != client_id]


class FakeInvitations(_Repo):
    async def replace(self, token: InvitationToken) -> None:
        tokens = self._store.tokens
        for key in [
            k for k, (t, _) in tokens.items() if (t.kind, t.account_id) == (token.kind, token.account_id)
        ]:
            del tokens[key]
        tokens[token.token_hash] = (token, None)

    async def find(self, token_hash: str) -> InvitationToken | None:
        found = self._store.tokens.get(token_hash)
        return found[0] if found and found[1] is None else None

    async def use(self, token_hash: str, now: datetime) -> bool:
        found = self._store.tokens.get(token_hash)
        if found is None or found[1] is not None or found[0].expires_at <= now:
            return False
        self._store.tokens[token_hash] = (found[0], now)
        return True

    async def pending_counsellor_ids(self, now: datetime) -> set[int]:
        return set()


class FakeMailOutbox(_Repo):
    async def add(self, mail: OutgoingMail) -> None:
        self._store.mails.append(replace(mail, id=self._store.next_id("mail")))

    async def claim(self, now: datetime, lease_seconds: float, limit: int) -> list[OutgoingMail]:
        return [copy.copy(m) for m in self._store.mails][:limit]

    async def sent(self, mail: OutgoingMail, now: datetime) -> None:
        self._store.mails = [m for m in self._store.mails if m.id != mail.id]

    async def failed(self, mail: OutgoingMail, retry_at: datetime) -> None:
        """Kept for the next round."""

    async def erase_for(self, client_id: int) -> None:
        self._store.mails = [m for m in self._store.mails if m.client_id != client_id]


class FakeEmailAddresses(_Repo):
    async def hold(self, email: str) -> None:
        """Nothing to hold: fake transactions run one at a time."""


class FakeRateLimits(_Repo):
    async def attempt(self, key: str, limit: int, since: datetime, now: datetime) -> Attempt:
        """Like the SQL adapter: forgets the key's attempts up to `since`, counts one while under the limit."""
        hits = self._store.limit_hits
        hits[:] = [(k, at, i) for k, at, i in hits if k != key or at > since]
        mine = [at for k, at, _ in hits if k == key]
        if len(mine) >= limit:
            return Attempt(key, None, retry_after(min(mine, default=now), since, now))
        hit_id = self._store.next_id("limit_hit")
        hits.append((key, now, hit_id))
        return Attempt(key, str(hit_id))

    async def take_back(self, attempt: Attempt) -> None:
        self._store.limit_hits = [h for h in self._store.limit_hits if str(h[2]) != attempt.id]

    async def clear(self, key: str) -> None:
        self._store.limit_hits = [h for h in self._store.limit_hits if h[0] != key]

    async def forget_until(self, moment: datetime) -> int:
        kept = [h for h in self._store.limit_hits if h[1] > moment]
        forgotten, self._store.limit_hits = len(self._store.limit_hits) - len(kept), kept
        return forgotten


class FakeAuditLog(_Repo):
    async def add(self, entry: AuditEntry) -> None:
        self._store.audit.append(replace(entry, id=self._store.next_id("audit")))

    async def page(self, first: int, after: str | None) -> Page[AuditEntry]:
        """Newest first."""
        return _page(sorted(self._store.audit, key=lambda e: -e.id), lambda e: e.id, first, after)


class FakeNoteRepository(_Repo):
    async def add(self, note: Note) -> Note:
        added = replace(note, id=self._store.next_id("note"))
        return _insert(self._store.notes, added)

    async def get(self, note_id: int) -> Note | None:
        return _copy_of(self._store.notes, note_id)

    async def lock(self, note_id: int) -> Note | None:
        return await self.get(note_id)

    async def set_text(self, note_id: int, text: str, edited_at: datetime) -> bool:
        found = self._store.notes.get(note_id)
        if found is None:
            return False
        found.text, found.edited_at = text, edited_at
        return True

    async def delete(self, note_id: int) -> bool:
        return self._store.notes.pop(note_id, None) is not None

    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[Note]:
        rows = sorted(
            (n for n in self._store.notes.values() if n.client_id == client_id), key=lambda n: -n.id
        )
        return _page([copy.copy(n) for n in rows], lambda n: n.id, first, after)

    async def erase_for(self, client_id: int) -> int:
        gone = [i for i, n in self._store.notes.items() if n.client_id == client_id]
        for note_id in gone:
            del self._store.notes[note_id]
        return len(gone)


class FakeMonitoringRepository(_Repo):
    async def topics(self) -> list[MonitoringTopic]:
        return [copy.copy(t) for t in sorted(self._store.topics.values(), key=lambda t: t.id)]

    async def add_topic(self, topic: MonitoringTopic) -> MonitoringTopic:
        added = replace(topic, id=self._store.next_id("topic"))
        return _insert(self._store.topics, added)

    async def lock_topic(self, topic_id: int) -> MonitoringTopic | None:
        self._locked.add(-topic_id)  # topics and entries share the lock set: topics negative
        return _copy_of(self._store.topics, topic_id)

    async def update_topic(self, topic: MonitoringTopic) -> None:
        self._require_lock(-topic.id)
        stored = self._store.topics[topic.id]
        stored.name, stored.active = topic.name, topic.active

    async def add_entry(self, entry: MonitoringEntry) -> MonitoringEntry:
        added = replace(entry, id=self._store.next_id("entry"), topic_ids=tuple(sorted(entry.topic_ids)))
        return _insert(self._store.entries, added)

    async def get_entry(self, entry_id: int) -> MonitoringEntry | None:
        return _copy_of(self._store.entries, entry_id)

    async def lock_entry(self, entry_id: int) -> MonitoringEntry | None:
        self._locked.add(entry_id)
        return await self.get_entry(entry_id)

    async def update_entry(self, entry: MonitoringEntry) -> None:
        self._require_lock(entry.id)
        kept = ("client_id", "counsellor_id", "created_at")
        _write_keeping(self._store.entries, entry, kept, topic_ids=tuple(sorted(entry.topic_ids)))

    async def delete_entry(self, entry_id: int) -> bool:
        return self._store.entries.pop(entry_id, None) is not None

    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[MonitoringEntry]:
        rows = [copy.copy(e) for e in self._store.entries.values() if e.client_id == client_id]
        rows.sort(key=lambda e: (e.contact_at, e.id), reverse=True)
        return _page(rows, lambda e: e.id, first, after)

    async def erase_texts(self, client_id: int) -> int:
        return _erase_texts(self._store.entries.values(), client_id, "outcome", "note")

    async def counts(self, start: datetime, end: datetime, by_counsellor: bool) -> list[ContactCount]:
        """Like the SQL: grouped by month (UTC), channel, topic (and counsellor)."""
        groups: dict[tuple[Any, ...], list[MonitoringEntry]] = {}
        for entry in self._store.entries.values():
            if not start <= entry.contact_at < end:
                continue
            for topic_id in entry.topic_ids:
                key = (
                    entry.contact_at.astimezone(UTC).strftime("%Y-%m"),
                    entry.channel,
                    topic_id,
                    entry.counsellor_id if by_counsellor else None,
                )
                groups.setdefault(key, []).append(entry)
        return [
            ContactCount(*key, contacts=len(found), clients=len({e.client_id for e in found}))
            for key, found in groups.items()
        ]


class FakeDocumentRepository(_Repo):
    async def add(self, document: Document) -> Document:
        added = replace(document, id=self._store.next_id("document"))
        self._store.documents[added.id] = added
        return added

    async def get(self, document_id: int) -> Document | None:
        return self._store.documents.get(document_id)

    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[Document]:
        mine = [d for d in self._store.documents.values() if d.client_id == client_id]
        return _page(sorted(mine, key=lambda d: -d.id), lambda d: d.id, first, after)

    async def delete(self, document_id: int) -> Document | None:
        return self._store.documents.pop(document_id, None)

    async def delete_of_client(self, client_id: int) -> list[Document]:
        gone = await self.of_client(client_id)
        for document in gone:
            del self._store.documents[document.id]
        return gone

    async def of_client(self, client_id: int) -> list[Document]:
        return sorted(
            (d for d in self._store.documents.values() if d.client_id == client_id), key=lambda d: d.id
        )

    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        return {d.blob_key for d in self._store.documents.values()} & set(keys)


class MemoryBlobs:
    """A blob store in memory (a test's; production seals files on disk or in S3), with the time
    each key was stored, from the clock it is given."""

    def __init__(self, clock: FixedClock | None = None) -> None:
        self.files: dict[str, bytes] = {}
        self.stored_at: dict[str, datetime] = {}
        self._clock = clock or FixedClock()

    async def put(self, key: str, data: bytes) -> None:
        self.files[key] = data
        self.stored_at[key] = self._clock.now()

    async def get(self, key: str) -> bytes | None:
        return self.files.get(key)

    async def delete(self, key: str) -> None:
        self.files.pop(key, None)
        self.stored_at.pop(key, None)

    async def older_than(self, moment: datetime) -> list[str]:
        return sorted(k for k, at in self.stored_at.items() if at < moment)


class FakeUnitOfWork:
    """One transaction over a private copy of the shared store."""

    def __init__(self, factory: FakeUnitOfWorkFactory, write: bool) -> None:
        self.factory = factory
        self.write = write
        self.store = factory.store
        self.events: list[Event] = []
        self.counsellors: CounsellorRepository = FakeCounsellorRepository(self)
        self.clients: ClientRepository = FakeClientRepository(self)
        self.emails: EmailAddresses = FakeEmailAddresses(self)
        self.requests: RequestRepository = FakeRequestRepository(self)
        self.history: PrimaryHistoryRepository = FakePrimaryHistoryRepository(self)
        self.settings: SettingsRepository = FakeSettingsRepository(self)
        self.tokens: TokenRepository = FakeTokenRepository(self)
        self.outbox: InvitationOutbox = FakeInvitationOutbox(self)
        self.limits: RateLimitRepository = FakeRateLimits(self)
        self.audit: AuditLog = FakeAuditLog(self)
        self.notes: NoteRepository = FakeNoteRepository(self)
        self.monitoring: MonitoringRepository = FakeMonitoringRepository(self)
        self.documents: DocumentRepository = FakeDocumentRepository(self)
        self.invitations: InvitationRepository = FakeInvitations(self)
        self.mails: MailOutbox = FakeMailOutbox(self)

    async def __aenter__(self) -> FakeUnitOfWork:
        self.store = copy.deepcopy(self.factory.store)
        self.events = []
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.rollback()

    async def commit(self) -> None:
        self.factory.store = self.store
        self.factory.published.extend(self.events)
        self.factory.commits += 1
        self.store = copy.deepcopy(self.store)  # later changes need another commit
        self.events = []

    async def rollback(self) -> None:
        self.store = copy.deepcopy(self.factory.store)
        self.events = []

    def record(self, event: Event) -> None:
        self.events.append(event)


class FakeUnitOfWorkFactory:
    """`factory(write=True)` opens a unit of work on the one shared in-memory store."""

    def __init__(self) -> None:
        self.store = Store()
        self.published: list[Event] = []
        self.commits = 0

    def __call__(self, *, write: bool = True) -> FakeUnitOfWork:
        return FakeUnitOfWork(self, write)

    def seed_counsellor(self, **overrides: Any) -> Counsellor:
        """Store a counsellor directly (committed); defaults as routing.md, ids count up."""
        counsellor_id = self.store.next_id("counsellor")
        values: dict[str, Any] = {
            "email": f"c{counsellor_id}@example.org",
            "display_name": f"Counsellor {counsellor_id}",
            "role": StaffRole.COUNSELLOR,
            "created_at": START + timedelta(minutes=counsellor_id),
        }
        counsellor = Counsellor(id=counsellor_id, **(values | overrides))
        self.store.counsellors[counsellor_id] = counsellor
        return copy.copy(counsellor)

    def seed_client(self, **overrides: Any) -> Client:
        """Store a client directly (committed)."""
        client_id = self.store.next_id("client")
        values: dict[str, Any] = {
            "client_code": f"K-{client_id:04d}",
            "display_name": f"Client {client_id}",
            "created_at": START,
        }
        client = Client(id=client_id, **(values | overrides))
        self.store.clients[client_id] = client
        return copy.copy(client)

    def counsellor(self, counsellor_id: int) -> Counsellor:
        return copy.copy(self.store.counsellors[counsellor_id])

    def client(self, client_id: int) -> Client:
        return copy.copy(self.store.clients[client_id])

    def request(self, request_id: int) -> Request:
        return copy.copy(self.store.requests[request_id])


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        self._now += timedelta(seconds=seconds)
        return self._now


class PlainHasher:
    """Readable 'hashes' for tests: never use outside them."""

    def hash(self, password: str) -> str:
        return "plain:" + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash == "plain:" + password


def settling(dispatcher: Dispatcher) -> Callable[[], Awaitable[None]]:
    """`deps.dispatch` for tests: the production request for a background run, then waiting until
    it has settled, so a test sees the state the run left (a failed run is logged, not raised)."""

    async def dispatch() -> None:
        await dispatcher.request()
        await dispatcher.settled()

    return dispatch
