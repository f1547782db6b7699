"""Ports: what the use cases need from the outside world (database, clock, hashing)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, Protocol, TypeVar

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

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset-paginated list."""

    items: list[tuple[str, T]]  # (cursor, item)
    has_next: bool
    total: int


@dataclass(frozen=True)
class ClientPage(Page[Client]):
    """A page of clients with the primary counsellors of its clients, by id, when they were read
    with it (so nobody reads them again)."""

    primaries: dict[int, Counsellor] = field(default_factory=dict)


class ClientOrder(enum.StrEnum):
    """How the member list is sorted; ties by display name (then id)."""

    DISPLAY_NAME = "DISPLAY_NAME"
    LAST_LOGIN = "LAST_LOGIN"
    ACCOUNT_STATUS = "ACCOUNT_STATUS"
    INVITATION_STATUS = "INVITATION_STATUS"
    PRIMARY_COUNSELLOR = "PRIMARY_COUNSELLOR"


@dataclass(frozen=True)
class ClientQuery:
    primary_counsellor_id: int | None = None
    unassigned: bool | None = None
    search: str | None = None
    account_status: AccountStatus | None = None
    primary_inactive: bool | None = None
    invitation_status: InvitationStatus | None = None
    last_login_after: datetime | None = None
    last_login_before: datetime | None = None
    order: ClientOrder = ClientOrder.DISPLAY_NAME


@dataclass(frozen=True)
class StaffQuery:
    search: str | None = None
    role: StaffRole | None = None
    active: bool | None = None
    online_status: OnlineStatus | None = None


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

    async def record_login(self, counsellor_id: int, at: datetime) -> None:
        """Set the last sign-in time, only this column."""

    async def accept_invitation(self, counsellor_id: int, password_hash: str, at: datetime) -> int | None:
        """Set the first password of an active counsellor (REGISTERED, signed in now, every earlier
        session ended); the new session generation, or None when inactive."""

    async def lock_active_admins(self) -> list[int]:
        """The active admins, their rows held until commit (role changes of admins are serial)."""

    async def staff_page(self, query: StaffQuery, first: int, after: str | None) -> Page[Counsellor]:
        """Counsellors and admins by display name."""

    async def primary_client_counts(self, counsellor_ids: Sequence[int]) -> dict[int, int]: ...


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
    ) -> ClientPage: ...
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

    async def change_status(
        self, client_id: int, to: AccountStatus, expected: Sequence[AccountStatus], **times: datetime | None
    ) -> Client | None:
        """Set the account status (and deleted_at / erasure_due_at as given) only while the status is
        one of `expected` and the data is not erased; leaving ACTIVE ends every session. The client
        as changed, or None when the guard failed."""

    async def accept_invitation(self, client_id: int, password_hash: str, at: datetime) -> int | None:
        """Set the password of an ACTIVE client (REGISTERED, signed in now); the new session
        generation, or None."""

    async def erasure_due(self, now: datetime, limit: int) -> list[int]:
        """Deleted clients whose grace period is over and whose data is not erased yet."""

    async def open_request_counts(self, viewer: Viewer, client_ids: Sequence[int]) -> dict[int, int]:
        """Open (QUEUED or ASSIGNED) requests per client that the viewer may see."""

    async def last_request_times(self, client_ids: Sequence[int]) -> dict[int, datetime | None]: ...


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

    async def queue_summary(self) -> dict[Channel, tuple[int, datetime | None]]:
        """QUEUED requests by channel: how many, and when the oldest was created (channels with none left out)."""

    async def next_wait_end(self, after: datetime) -> datetime | None:
        """When the next wait for a primary that is still running ends."""

    async def visible_page(
        self, viewer: Viewer, query: RequestQuery, first: int, after: str | None
    ) -> Page[Request]: ...
    async def assigned_to_since(self, counsellor_id: int, since: datetime, limit: int) -> list[Request]:
        """Requests whose holder (or last holder, once closed) is the counsellor, assigned to them
        at `since` or later; oldest assignment first, at most `limit`."""

    async def visible_changed_since(
        self, viewer: Viewer, since: datetime, limit: int, request_id: int | None = None
    ) -> list[Request]:
        """Requests the viewer may see (only `request_id`, when given) created or changed at `since`
        or later, in their current state; least recently changed first, at most `limit`."""

    async def visible_first_pages(
        self, viewer: Viewer, client_ids: Sequence[int], first: int
    ) -> dict[int, Page[Request]]:
        """The first page of each client's requests the viewer may see (batched)."""


class PrimaryHistoryRepository(Protocol):
    async def add(self, change: PrimaryCounsellorChange) -> PrimaryCounsellorChange: ...
    async def for_clients(self, client_ids: Sequence[int]) -> dict[int, list[PrimaryCounsellorChange]]: ...
    async def visible_since(
        self, viewer: Viewer, since: datetime, limit: int, client_id: int | None = None
    ) -> list[PrimaryCounsellorChange]:
        """Changes at `since` or later the viewer may be sent (`visibility.sees_primary_change`; of
        one client when given), oldest first, at most `limit`."""


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


class NoteRepository(Protocol):
    """Notes of the client folder; texts are encrypted at rest."""

    async def add(self, note: Note) -> Note: ...
    async def get(self, note_id: int) -> Note | None: ...
    async def lock(self, note_id: int) -> Note | None:
        """Load the note and hold its row until commit."""

    async def set_text(self, note_id: int, text: str, edited_at: datetime) -> bool:
        """Write only text and edited time; False when the note is gone."""

    async def delete(self, note_id: int) -> bool: ...
    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[Note]:
        """Newest first."""

    async def erase_for(self, client_id: int) -> int:
        """Delete every note on the client; how many."""


class MonitoringRepository(Protocol):
    """The topic catalogue and the documented contacts; outcome and note are encrypted at rest."""

    async def topics(self) -> list[MonitoringTopic]: ...
    async def add_topic(self, topic: MonitoringTopic) -> MonitoringTopic: ...
    async def lock_topic(self, topic_id: int) -> MonitoringTopic | None: ...
    async def update_topic(self, topic: MonitoringTopic) -> None:
        """Write name and active of a topic locked by `lock_topic` in this transaction."""

    async def add_entry(self, entry: MonitoringEntry) -> MonitoringEntry: ...
    async def get_entry(self, entry_id: int) -> MonitoringEntry | None: ...
    async def lock_entry(self, entry_id: int) -> MonitoringEntry | None:
        """Load the entry and hold its row until commit."""

    async def update_entry(self, entry: MonitoringEntry) -> None:
        """Write what an update may change (time, channel, duration, topics, outcome, note) of an
        entry locked by `lock_entry` in this transaction."""

    async def delete_entry(self, entry_id: int) -> bool: ...
    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[MonitoringEntry]:
        """Newest contact first."""

    async def erase_texts(self, client_id: int) -> int:
        """Remove outcome and note of every entry of the client; how many entries."""

    async def counts(self, start: datetime, end: datetime, by_counsellor: bool) -> list[ContactCount]:
        """Contacts from `start` until before `end`, by month (UTC), channel, topic (and counsellor)."""


class DocumentRepository(Protocol):
    async def add(self, document: Document) -> Document: ...
    async def get(self, document_id: int) -> Document | None: ...
    async def page_of_client(self, client_id: int, first: int, after: str | None) -> Page[Document]:
        """Newest first."""

    async def delete(self, document_id: int) -> Document | None:
        """Delete the row; the document it was, or None when it is gone already (a parallel delete)."""

    async def delete_of_client(self, client_id: int) -> list[Document]:
        """Delete every document row of the client; the documents they were."""

    async def of_client(self, client_id: int) -> list[Document]: ...
    async def known_keys(self, keys: Sequence[str]) -> set[str]:
        """Which of these blob keys a document row names."""


class BlobStore(Protocol):
    """Where the bytes of documents live (a folder, an S3 bucket); the adapter encrypts them."""

    async def put(self, key: str, data: bytes) -> None:
        """Store `data` under `key` whole or not at all."""

    async def get(self, key: str) -> bytes | None:
        """The bytes under `key`; None when there are none."""

    async def delete(self, key: str) -> None:
        """Remove `key`; nothing happens when it is gone already."""

    async def older_than(self, moment: datetime) -> list[str]:
        """Keys stored before `moment` (for the sweep of blobs no row names)."""


class IncomingFile(Protocol):
    """A file as it arrives in a request: the name its sender gave, and its bytes in chunks."""

    @property
    def filename(self) -> str | None: ...
    async def read(self, size: int = -1) -> bytes: ...


class InvitationRepository(Protocol):
    async def replace(self, token: InvitationToken) -> None:
        """Store the token, deleting the account's earlier ones (a resent invitation replaces them)."""

    async def find(self, token_hash: str) -> InvitationToken | None:
        """The unused token with this hash (expired or not)."""

    async def use(self, token_hash: str, now: datetime) -> bool:
        """Mark the token used, only while unused and unexpired: of parallel uses exactly one wins."""

    async def pending_counsellor_ids(self, now: datetime) -> set[int]: ...


class MailOutbox(Protocol):
    async def add(self, mail: OutgoingMail) -> None:
        """Queue a mail; it commits (or not) with the caller's transaction."""

    async def claim(self, now: datetime, lease_seconds: float, limit: int) -> list[OutgoingMail]:
        """Claim due unsent mails for this sender until the lease ends (parallel senders claim
        disjoint rows)."""

    async def sent(self, mail: OutgoingMail, now: datetime) -> None:
        """Mark a claimed mail sent (only while this claim holds it)."""

    async def failed(self, mail: OutgoingMail, retry_at: datetime) -> None:
        """Release a claimed mail to be tried again at `retry_at`."""

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
    notes: NoteRepository
    monitoring: MonitoringRepository
    documents: DocumentRepository
    invitations: InvitationRepository
    mails: MailOutbox

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


class MailTransport(Protocol):
    async def send(self, mail: OutgoingMail) -> None:
        """Deliver one mail; raises when it could not (the sender tries again later)."""
