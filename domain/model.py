"""The domain model: counsellors, clients, requests and the primary-counsellor history."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime

from domain.errors import InvalidTransition


class Role(enum.StrEnum):
    ADMIN = "ADMIN"
    COUNSELLOR = "COUNSELLOR"
    CLIENT = "CLIENT"


class StaffRole(enum.StrEnum):
    ADMIN = "ADMIN"
    COUNSELLOR = "COUNSELLOR"


class Channel(enum.StrEnum):
    CHAT = "CHAT"
    MAIL = "MAIL"


class OnlineStatus(enum.StrEnum):
    ONLINE = "ONLINE"
    AWAY = "AWAY"
    OFFLINE = "OFFLINE"


class MailAvailability(enum.StrEnum):
    UNLIMITED = "UNLIMITED"
    NONE = "NONE"
    BY_FREE_RESOURCES = "BY_FREE_RESOURCES"


class AccountStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    BLOCKED = "BLOCKED"
    DELETED = "DELETED"


class InvitationStatus(enum.StrEnum):
    NO_ACCESS = "NO_ACCESS"
    INVITED = "INVITED"
    REGISTERED = "REGISTERED"


class RequestStatus(enum.StrEnum):
    QUEUED = "QUEUED"
    ASSIGNED = "ASSIGNED"
    CLOSED = "CLOSED"
    CANCELLED = "CANCELLED"


class RoutingReason(enum.StrEnum):
    PRIMARY_COUNSELLOR = "PRIMARY_COUNSELLOR"
    FIRST_REQUEST = "FIRST_REQUEST"
    PRIMARY_UNAVAILABLE = "PRIMARY_UNAVAILABLE"
    FALLBACK_COUNSELLOR = "FALLBACK_COUNSELLOR"
    MANUAL = "MANUAL"


class TraceOutcome(enum.StrEnum):
    """What one routing step found; the API prints the value (`RoutingStep.outcome: String`)."""

    PRIMARY_TAKES = "PRIMARY_TAKES"
    PRIMARY_SKIPPED = "PRIMARY_SKIPPED"
    WAITING_FOR_PRIMARY = "WAITING_FOR_PRIMARY"
    WAIT_ENDED = "WAIT_ENDED"
    CANDIDATE_CHOSEN = "CANDIDATE_CHOSEN"
    FALLBACK_USED = "FALLBACK_USED"
    QUEUED = "QUEUED"
    MANUAL = "MANUAL"
    ACCEPT_TIMEOUT = "ACCEPT_TIMEOUT"


class AssignmentSource(enum.StrEnum):
    AUTOMATIC = "AUTOMATIC"
    MANUAL = "MANUAL"


@dataclass
class Counsellor:
    """A staff account that counsels (admins counsel too)."""

    id: int
    email: str
    display_name: str
    role: StaffRole
    created_at: datetime
    password_hash: str = ""
    first_name: str | None = None
    last_name: str | None = None
    active: bool = True
    online_status: OnlineStatus = OnlineStatus.OFFLINE
    chat_capacity: int = 1
    active_chat_count: int = 0
    mail_availability: MailAvailability = MailAvailability.NONE
    mail_resources: int = 0
    open_mail_count: int = 0
    absent: bool = False
    absence_message: str | None = None
    only_own_clients: bool = False
    last_chat_assigned_at: datetime | None = None
    last_mail_assigned_at: datetime | None = None
    # The last sign of life of a session (heartbeat, open subscription, going online).
    last_seen_at: datetime | None = None
    # Tokens carry the generation they were issued in; raising it ends every session.
    session_generation: int = 0
    # INVITED until an invited counsellor sets a password (acceptInvitation).
    invitation_status: InvitationStatus = InvitationStatus.REGISTERED
    last_login_at: datetime | None = None

    @property
    def eligible(self) -> bool:
        """Active and not absent: may be routed to at all."""
        return self.active and not self.absent

    def load(self, channel: Channel) -> int:
        """Requests held on a channel."""
        return self.active_chat_count if channel is Channel.CHAT else self.open_mail_count

    def last_assigned_at(self, channel: Channel) -> datetime | None:
        if channel is Channel.CHAT:
            return self.last_chat_assigned_at
        return self.last_mail_assigned_at

    @property
    def free_mail_resources(self) -> int | None:
        """Mail requests they would still take now: None when UNLIMITED, 0 when NONE."""
        if self.mail_availability is MailAvailability.UNLIMITED:
            return None
        if self.mail_availability is MailAvailability.NONE:
            return 0
        return max(self.mail_resources - self.open_mail_count, 0)


@dataclass
class Client:
    """A person seeking counselling."""

    id: int
    client_code: str
    display_name: str
    created_at: datetime
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    language: str | None = None
    invitation_status: InvitationStatus = InvitationStatus.NO_ACCESS
    account_status: AccountStatus = AccountStatus.ACTIVE
    password_hash: str | None = None
    last_login_at: datetime | None = None
    primary_counsellor_id: int | None = None
    session_generation: int = 0
    erased_at: datetime | None = None
    # Set by deleteClient: the personal data is erased by the sweep at erasure_due_at.
    deleted_at: datetime | None = None
    erasure_due_at: datetime | None = None
    # Read with the client overview (None when not read): open requests the viewer may see,
    # and when the client last submitted one.
    open_request_count: int | None = None
    last_request_at: datetime | None = None


@dataclass(frozen=True)
class RoutingStep:
    """One step of a routing decision, kept with the request for staff (`Request.routingTrace`)."""

    at: datetime
    outcome: TraceOutcome
    counsellor_id: int | None = None
    detail: str | None = None


@dataclass
class Request:
    """A client's chat or mail request, from submission to close."""

    id: int
    client_id: int
    channel: Channel
    status: RequestStatus
    message: str | None
    created_at: datetime
    subject: str | None = None
    counsellor_id: int | None = None
    routing_reason: RoutingReason | None = None
    assigned_at: datetime | None = None
    closed_at: datetime | None = None
    idempotency_key: str | None = None
    # While set and in the future, a queued chat waits for this primary alone.
    waiting_for_id: int | None = None
    wait_until: datetime | None = None
    accepted_at: datetime | None = None
    # Counsellors who let this request lapse unaccepted: it is never offered to them again.
    excluded_ids: tuple[int, ...] = ()
    # The client's primary was set by this very request (so a re-offer may replace it).
    set_primary: bool = False
    trace: tuple[RoutingStep, ...] = ()
    # When it was created or last changed state (each transition sets it): what a catch-up after a
    # lost event, or a client reconnecting with `since`, reads from (docs/routing.md, "Catch-up").
    updated_at: datetime | None = None

    @property
    def holds_capacity(self) -> bool:
        return self.status is RequestStatus.ASSIGNED

    @property
    def is_open(self) -> bool:
        """Not yet closed or cancelled."""
        return self.status in (RequestStatus.QUEUED, RequestStatus.ASSIGNED)

    @property
    def last_changed_at(self) -> datetime:
        """`updated_at`, or for a request stamped by no transition yet its latest known time."""
        return self.updated_at or self.closed_at or self.assigned_at or self.created_at

    @property
    def holder_id(self) -> int | None:
        """The counsellor whose chat slot or mail resource this request holds now."""
        return self.counsellor_id if self.holds_capacity else None

    # Transitions (routing.md, "Assigning, closing, cancelling"). Each checks the state it leaves,
    # changes only what a transition may change, and returns the counsellor whose slot or resource
    # it frees (the caller releases it in the same transaction). Repositories write exactly these
    # columns (`RequestRepository.save_transition`).

    def _require(self, action: str, *allowed: RequestStatus) -> None:
        if self.status not in allowed:
            raise InvalidTransition(f"The request is {self.status.value}: it cannot be {action}.")

    def keep_queued(
        self,
        steps: tuple[RoutingStep, ...],
        wait_for_id: int | None = None,
        wait_until: datetime | None = None,
        at: datetime | None = None,
    ) -> None:
        """Nobody takes it now: note a wait for the primary, and explain a new queue entry or wait
        (a request re-offered without success keeps its one QUEUED step). `at`: when this was
        decided (a change only when something was noted)."""
        self._require("queued", RequestStatus.QUEUED)
        if wait_until is not None:
            self.waiting_for_id, self.wait_until = wait_for_id, wait_until
        newly_queued = not self.trace or self.trace[-1].outcome is not TraceOutcome.QUEUED
        if wait_until is not None or newly_queued:
            self.trace += steps
            self.updated_at = at or self.updated_at

    def require_assignable(self) -> None:
        """Only a QUEUED or ASSIGNED request can be (re)assigned."""
        self._require("assigned", RequestStatus.QUEUED, RequestStatus.ASSIGNED)

    def assign(
        self,
        counsellor_id: int,
        reason: RoutingReason,
        at: datetime,
        steps: tuple[RoutingStep, ...] = (),
        *,
        made_primary: bool = False,
    ) -> int | None:
        """Held by `counsellor_id` from `at` (whose capacity was claimed already), unaccepted;
        a manual assignment says so in the trace. `made_primary`: this request made them the
        client's primary (a re-offer may replace them). Returns the previous holder, if any."""
        self.require_assignable()
        if made_primary:
            self.set_primary = True
        if reason is RoutingReason.MANUAL:
            steps = (*steps, RoutingStep(at, TraceOutcome.MANUAL, counsellor_id, "assigned by hand"))
        previous = self.holder_id
        self.status = RequestStatus.ASSIGNED
        self.counsellor_id, self.routing_reason = counsellor_id, reason
        self.assigned_at, self.accepted_at = at, None
        self.waiting_for_id = self.wait_until = None
        self.trace += steps
        self.updated_at = at
        return previous

    def accept(self, at: datetime) -> bool:
        """The holder accepts it, so it is never taken back; False if it was accepted already."""
        self._require("accepted", RequestStatus.ASSIGNED)
        if self.accepted_at is not None:
            return False
        self.accepted_at = self.updated_at = at
        return True

    def return_to_queue(self, at: datetime, timeout_seconds: int) -> int:
        """An assigned chat not accepted in time goes back to the queue, never to its holder again;
        returns that holder."""
        self._require("taken back", RequestStatus.ASSIGNED)
        holder = self.counsellor_id
        if holder is None or self.accepted_at is not None:
            raise InvalidTransition("Only an unaccepted request can be taken back.")
        detail = f"not accepted within {timeout_seconds} s"
        self.trace += (RoutingStep(at, TraceOutcome.ACCEPT_TIMEOUT, holder, detail),)
        self.status, self.counsellor_id, self.routing_reason = RequestStatus.QUEUED, None, None
        self.assigned_at = None
        self.excluded_ids = (*self.excluded_ids, holder)
        self.updated_at = at
        return holder

    def close(self, at: datetime) -> int | None:
        """Done: an ASSIGNED request is closed, freeing what it held; returns the holder."""
        self._require("closed", RequestStatus.ASSIGNED)
        return self._end(RequestStatus.CLOSED, at)

    def cancel(self, at: datetime, *, by_client: bool = False) -> int | None:
        """Withdrawn: a QUEUED request, or (not by its client) an ASSIGNED one; returns the holder."""
        if by_client:
            self._require("cancelled by its client", RequestStatus.QUEUED)
        self._require("cancelled", RequestStatus.QUEUED, RequestStatus.ASSIGNED)
        return self._end(RequestStatus.CANCELLED, at)

    def _end(self, status: RequestStatus, at: datetime) -> int | None:
        holder = self.holder_id
        self.status, self.closed_at, self.updated_at = status, at, at
        self.waiting_for_id = self.wait_until = None
        return holder


@dataclass
class PrimaryCounsellorChange:
    """One entry of a client's primary-counsellor history; never rewritten."""

    id: int
    client_id: int
    previous_counsellor_id: int | None
    new_counsellor_id: int | None
    source: AssignmentSource
    changed_at: datetime
    changed_by_id: int | None = None
    reason: str | None = None


@dataclass
class Settings:
    """Deployment-wide routing settings."""

    fallback_counsellor_id: int | None = None
    primary_chat_wait_seconds: int = 0
    presence_timeout_seconds: int = 60
    accept_timeout_seconds: int | None = None


@dataclass(frozen=True)
class SessionClaims:
    """What a signed session token says, before the account is asked (accounts.viewer_in)."""

    role: Role
    account_id: int
    token_id: str
    expires_at: datetime
    generation: int = 0


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a counsellor (staff), a client, or nobody."""

    role: Role | None
    counsellor_id: int | None = None
    client_id: int | None = None
    token_id: str | None = None
    expires_at: datetime | None = None
    session_generation: int = 0
    # Clients a mutation's response shows to the one who changed them, even if handed over.
    granted_client_ids: frozenset[int] = frozenset()

    def granting(self, client_id: int) -> Viewer:
        """This viewer, also seeing `client_id` (for one mutation response)."""
        return replace(self, granted_client_ids=self.granted_client_ids | {client_id})

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @property
    def is_staff(self) -> bool:
        return self.role in (Role.ADMIN, Role.COUNSELLOR)

    @property
    def is_client(self) -> bool:
        return self.role is Role.CLIENT

    @property
    def is_anonymous(self) -> bool:
        return self.role is None


ANONYMOUS = Viewer(role=None)


@dataclass
class Invitation:
    """An invitation mail waiting in the outbox for a mailer to send."""

    client_id: int
    email: str
    created_at: datetime
    id: int = 0
    sent_at: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditEntry:
    """One staff action worth answering for later: who, what, when."""

    at: datetime
    actor_id: int | None
    action: str
    subject_type: str
    subject_id: int
    detail: str | None = None
    id: int = 0


@dataclass(frozen=True)
class Document:
    """A file in a client's folder (Dokumente). The bytes live in the blob store under `blob_key`
    (random, so neither the name nor the client can be read off the store)."""

    id: int
    client_id: int
    file_name: str
    content_type: str
    size_bytes: int
    uploaded_at: datetime
    blob_key: str
    uploaded_by_id: int | None = None


class AccountKind(enum.StrEnum):
    CLIENT = "CLIENT"
    COUNSELLOR = "COUNSELLOR"


@dataclass(frozen=True)
class InvitationToken:
    """A one-time invitation of an account to set its password; only the token's hash is stored."""

    kind: AccountKind
    account_id: int
    token_hash: str
    created_at: datetime
    expires_at: datetime


@dataclass
class OutgoingMail:
    """A mail in the outbox, written in the transaction that makes it necessary."""

    recipient: str
    subject: str
    body: str
    created_at: datetime
    client_id: int | None = None
    id: int = 0
    attempts: int = 0
    claim: str | None = None
