"""Ports: what the use cases need from the outside world (database, clock, hashing)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from domain.events import Event
from domain.model import (
    AccountStatus,
    AuditEntry,
    Channel,
    Client,
    Counsellor,
    Invitation,
    InvitationStatus,
    OnlineStatus,
    PrimaryCounsellorChange,
    Request,
    RequestStatus,
    Settings,
    Viewer,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset-paginated list."""

    items: list[tuple[str, T]]  # (cursor, item)
    has_next: bool
    total: int


@dataclass(frozen=True)
class ClientQuery:
    primary_counsellor_id: int | None = None
    unassigned: bool | None = None
    search: str | None = None
    account_status: AccountStatus | None = None
    primary_inactive: bool | None = None


@dataclass(frozen=True)
class RequestQuery:
    channel: Channel | None = None
    status: RequestStatus | None = None
    counsellor_id: int | None = None
    client_id: int | None = None


@dataclass(frozen=True)
class Submitter:
    """What a client's submission reads first, in one statement: the client's row (held until
    commit), whether the token the submission came with is revoked, and the routing settings."""

    client: Client
    token_revoked: bool
    settings: Settings


@dataclass(frozen=True)
class RecentRequest:
    """A request of one client that is open, was created within the window asked for, or carries
    the idempotency key asked for: what the limits, the holders and a replay need to know."""

    id: int
    status: RequestStatus
    created_at: datetime
    counsellor_id: int | None
    carries_key: bool


class CounsellorRepository(Protocol):
    async def get(self, counsellor_id: int) -> Counsellor | None: ...
    async def get_many(self, ids: Sequence[int]) -> dict[int, Counsellor]: ...
    async def by_email(self, email: str) -> Counsellor | None: ...
    async def lock(self, counsellor_id: int) -> Counsellor | None:
        """Load the counsellor and hold the row until commit (concurrent changes do not undo each other)."""

    async def add(self, counsellor: Counsellor) -> Counsellor:
        """Store a new counsellor; EmailTaken when another counsellor has the address."""

    async def save(self, counsellor: Counsellor) -> None:
        """Write profile, status and capacity settings of a counsellor locked by `lock` in this
        transaction (anything else is refused); never the loads."""

    async def sign_off(self, counsellor_id: int) -> Counsellor | None:
        """Set OFFLINE, only this column; the counsellor when it changed, None when OFFLINE already."""

    async def replace_password(self, counsellor_id: int, verified_hash: str, new_hash: str) -> int | None:
        """Store `new_hash` and end every session, only while the counsellor is active and the stored
        hash is still `verified_hash`; the new session generation, or None."""

    async def filtered(self, online_status: OnlineStatus | None, active: bool | None) -> list[Counsellor]: ...
    async def candidates(self, channel: Channel, primary_id: int | None, limit: int) -> list[Counsellor]:
        """Counsellors free on `channel` for a client of `primary_id`, best first."""

    async def claim(
        self, counsellor_id: int, channel: Channel, now: datetime, checked: bool
    ) -> Counsellor | None:
        """Take one slot or resource; with `checked`, only while still free (else None)."""

    async def claim_first(
        self, counsellor_ids: Sequence[int], channel: Channel, now: datetime
    ) -> Counsellor | None:
        """Take one slot or resource of the first of `counsellor_ids`, in that order, that is still
        free and whose row no other transaction holds (None when there is none: the caller may
        wait for the first with `claim`)."""

    async def release(self, counsellor_id: int, channel: Channel) -> Counsellor | None: ...
    async def touch(self, counsellor_ids: Sequence[int], now: datetime) -> None:
        """Record a sign of life of these counsellors' sessions."""

    async def lapse(self, silent_since: datetime) -> list[Counsellor]:
        """Set OFFLINE, exactly once, everyone not OFFLINE whose last sign of life is older; returns them."""


class ClientRepository(Protocol):
    async def get(self, client_id: int) -> Client | None: ...
    async def get_many(self, ids: Sequence[int]) -> dict[int, Client]: ...
    async def lock(self, client_id: int) -> Client | None:
        """Load the client and hold its row until commit (routing of one client is serial)."""

    async def lock_submitter(self, client_id: int, token_id: str | None) -> Submitter | None:
        """Like `lock`, with whether `token_id` is revoked and the settings, in the same statement
        (a submission's first read); None when the client does not exist."""

    async def by_email(self, email: str) -> Client | None: ...
    async def code_taken(self, code: str) -> bool: ...
    async def add(self, client: Client) -> Client:
        """Store a new client; EmailTaken when another client has the address."""

    async def record_login(self, client_id: int, at: datetime) -> bool:
        """Set the last sign-in time, only this column and only while the account is ACTIVE;
        False when it is not (erased or blocked meanwhile)."""

    async def save_profile(self, client: Client) -> None:
        """Write the profile fields (names, e-mail, phone, language) of a client locked by `lock`
        in this transaction (anything else is refused); EmailTaken when another client has the address."""

    async def set_invitation_status(self, client_id: int, status: InvitationStatus) -> None: ...
    async def replace_password(self, client_id: int, verified_hash: str, new_hash: str) -> int | None:
        """Store `new_hash` and end every session, only while the account is ACTIVE and the stored
        hash is still `verified_hash`; the new session generation, or None."""

    async def set_primary(self, client_id: int, new_id: int | None, expected: int | None) -> bool:
        """Set the primary only while it is still `expected`; False when it moved meanwhile."""

    async def visible_page(
        self, viewer: Viewer, query: ClientQuery, first: int, after: str | None
    ) -> Page[Client]: ...
    async def holder_ids(self, client_id: int) -> set[int]:
        """Counsellors holding an ASSIGNED request of the client."""

    async def holders_of(self, client_ids: Sequence[int]) -> dict[int, set[int]]: ...
    async def primary_of(self, counsellor_id: int) -> list[Client]:
        """Every client whose primary this counsellor is (locked until commit)."""

    async def erase(self, client: Client) -> None:
        """Overwrite the personal data and sign-in of a client locked by `lock` in this transaction
        with the (pseudonymised) values given."""

    async def related_counsellor_ids(self, client_id: int) -> set[int]:
        """Counsellors on the client's requests and history: those a client may read."""


class EmailAddresses(Protocol):
    """The e-mail addresses of all accounts: clients and counsellors share one set."""

    async def hold(self, email: str) -> None:
        """Hold the address until commit: a parallel transaction holding it waits, so checking that
        it is free and storing it are never interleaved with another's (parallel registrations)."""


class RequestRepository(Protocol):
    async def get(self, request_id: int) -> Request | None: ...
    async def add(self, request: Request) -> Request: ...
    async def save_transition(self, request: Request) -> None:
        """Write what a transition changes (status, holder, times, wait, trace); never the texts.
        The caller locked the request in this transaction (or added it)."""

    async def record_handler(self, request_id: int, counsellor_id: int) -> None:
        """Remember that the counsellor held the request (once; a repeat changes nothing)."""

    async def handled_by(self, request_id: int, counsellor_id: int) -> bool: ...
    async def lock(self, request_id: int) -> Request | None:
        """Load the request and hold its row until commit."""

    async def lock_queued(self, request_id: int) -> Request | None:
        """The request if still QUEUED and not being routed elsewhere; held until commit."""

    async def queued(self, limit: int, after_id: int = 0) -> list[Request]:
        """Queued requests, oldest first, after the request `after_id`."""

    async def oldest_queued_of(self, client_id: int) -> Request | None: ...
    async def count_of_client(self, client_id: int, since: datetime | None, open_only: bool) -> int:
        """The client's requests created since then, or (open_only) those QUEUED or ASSIGNED."""

    async def recent_of_client(
        self, client_id: int, since: datetime, idempotency_key: str | None
    ) -> list[RecentRequest]:
        """The client's requests that are open, created since then, or carry the key, in one
        statement (their number is bounded by the limits)."""

    async def of_client(self, client_id: int) -> list[Request]:
        """Every request of the client, oldest first (for exports and erasure)."""

    async def erase_texts(self, client_id: int) -> int:
        """Remove subject and message of every request of the client."""

    async def stop_waiting_for(self, counsellor_id: int) -> int:
        """End every wait for this counsellor (they became inactive or absent); returns how many."""

    async def unaccepted(self, assigned_before: datetime, limit: int) -> list[Request]:
        """Assigned chats not accepted and assigned before the given time, oldest first."""

    async def lock_unaccepted(self, request_id: int, assigned_before: datetime) -> Request | None:
        """The request if still assigned, unaccepted and overdue; held until commit (skipped if locked)."""

    async def queue_position(self, request: Request, now: datetime) -> int:
        """1-based position among the queued requests of the same pool: one primary's waiting
        chats, or everyone's (a wait that ended joins the general queue)."""

    async def assignments_since(self, channel: Channel, since: datetime) -> int:
        """How many requests of the channel were assigned since then (for wait estimates)."""

    async def next_wait_end(self, after: datetime) -> datetime | None:
        """When the next wait for a primary that is still running ends."""

    async def visible_page(
        self, viewer: Viewer, query: RequestQuery, first: int, after: str | None
    ) -> Page[Request]: ...
    async def visible_first_pages(
        self, viewer: Viewer, client_ids: Sequence[int], first: int
    ) -> dict[int, Page[Request]]:
        """The first page of each client's requests the viewer may see (batched)."""


class PrimaryHistoryRepository(Protocol):
    async def add(self, change: PrimaryCounsellorChange) -> PrimaryCounsellorChange: ...
    async def for_clients(self, client_ids: Sequence[int]) -> dict[int, list[PrimaryCounsellorChange]]: ...


class SettingsRepository(Protocol):
    async def get(self) -> Settings: ...
    async def lock(self) -> Settings:
        """The settings, with their row held until commit."""

    async def save(self, settings: Settings) -> None:
        """Write settings read by `lock` in this transaction (anything else is refused)."""


class TokenRepository(Protocol):
    async def revoke(self, token_id: str, expires_at: datetime) -> None: ...
    async def is_revoked(self, token_id: str) -> bool: ...
    async def session(
        self, client: bool, account_id: int, token_id: str
    ) -> tuple[Counsellor | Client | None, bool]:
        """The token's account and whether the token is revoked, in one statement (every request asks)."""


@dataclass(frozen=True)
class Attempt:
    """One attempt at something limited: counted (`id` names it), or refused with nothing counted."""

    key: str
    id: str | None
    # Refused: seconds until the oldest attempt counted leaves the window.
    retry_after_seconds: int = 0


class RateLimitRepository(Protocol):
    async def attempt(self, key: str, limit: int, since: datetime, now: datetime) -> Attempt:
        """Hold `key` until commit, forget its attempts made `since` or before, and count one at
        `now` unless `limit` are left (every process's)."""

    async def take_back(self, attempt: Attempt) -> None: ...
    async def clear(self, key: str) -> None: ...
    async def forget_until(self, moment: datetime) -> int:
        """Delete every key's attempts made at `moment` or before; how many."""


class Throttle(Protocol):
    """Attempts counted against limits in a moving window, shared by every process."""

    async def attempt(self, key: str, limit: int, window_seconds: int, now: datetime) -> Attempt:
        """Count one attempt, durably before returning, unless `limit` are counted within the window
        (the seconds before `now`; an attempt leaves it `window_seconds` after it was made).
        Parallel attempts never pass the limit."""

    async def take_back(self, attempt: Attempt) -> None:
        """Uncount an attempt that turned out not to be limited (e.g. a successful sign-in)."""

    async def clear(self, key: str) -> None: ...


class AuditLog(Protocol):
    async def add(self, entry: AuditEntry) -> None: ...
    async def page(self, first: int, after: str | None) -> Page[AuditEntry]:
        """Newest first."""


class InvitationOutbox(Protocol):
    async def add(self, invitation: Invitation) -> None: ...
    async def of_client(self, client_id: int) -> list[Invitation]: ...
    async def erase_for(self, client_id: int) -> None: ...


class UnitOfWork(Protocol):
    """One transaction. Events recorded here are published only after commit."""

    counsellors: CounsellorRepository
    clients: ClientRepository
    emails: EmailAddresses
    requests: RequestRepository
    history: PrimaryHistoryRepository
    settings: SettingsRepository
    tokens: TokenRepository
    outbox: InvitationOutbox
    limits: RateLimitRepository
    audit: AuditLog

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
    def record(self, event: Event) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, write: bool = True) -> UnitOfWork: ...


class Clock(Protocol):
    def now(self) -> datetime: ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str, password: str) -> bool: ...
