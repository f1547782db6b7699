"""Input types of the contract."""

from __future__ import annotations

from datetime import datetime

import strawberry

from graph import enums


@strawberry.input
class ClientFilter:
    primary_counsellor_id: strawberry.ID | None = None
    primary_is_me: bool | None = strawberry.field(
        default=None, description="Clients whose primary counsellor is the viewer."
    )
    unassigned: bool | None = strawberry.field(
        default=None, description="Clients with no primary counsellor."
    )
    search: str | None = strawberry.field(
        default=None, description="Matches display name, e-mail, name or client code, case-insensitively."
    )
    account_status: enums.AccountStatus | None = None
    primary_inactive: bool | None = strawberry.field(
        default=None, description="Clients whose primary counsellor is inactive (to reassign them)."
    )
    invitation_status: enums.InvitationStatus | None = strawberry.field(
        default=None, description="The account state: no access, invitation sent, or registered."
    )
    last_login_after: datetime | None = strawberry.field(
        default=None, description="Clients who last signed in at or after this time."
    )
    last_login_before: datetime | None = strawberry.field(
        default=None, description="Clients who last signed in before this time (never: not matched)."
    )


@strawberry.input
class StaffFilter:
    search: str | None = strawberry.field(
        default=None, description="Matches display name, e-mail or name, case-insensitively."
    )
    role: enums.StaffRole | None = None
    active: bool | None = None
    online_status: enums.OnlineStatus | None = None


@strawberry.input
class RequestFilter:
    channel: enums.Channel | None = None
    status: enums.RequestStatus | None = None
    counsellor_id: strawberry.ID | None = None
    assigned_to_me: bool | None = strawberry.field(
        default=None, description="Requests assigned to the viewer."
    )


@strawberry.input
class CounsellorFilter:
    online_status: enums.OnlineStatus | None = None
    active: bool | None = None


@strawberry.input
class RegisterClientInput:
    display_name: str
    email: str
    password: str
    language: str | None = None


@strawberry.input
class CreateCounsellorInput:
    email: str
    password: str | None = strawberry.field(
        default=None, description="Without a password the counsellor is invited by e-mail to set one."
    )
    display_name: str
    first_name: str | None = None
    last_name: str | None = None
    role: enums.StaffRole | None = strawberry.field(default=None, description="Default COUNSELLOR.")
    chat_capacity: int | None = strawberry.field(default=None, description="Default 1.")
    mail_availability: enums.MailAvailability | None = strawberry.field(
        default=None,
        description="Default NONE: a new counsellor takes no first mail until their availability is set.",
    )
    mail_resources: int | None = strawberry.field(default=None, description="Default 0.")


@strawberry.input
class UpdateCounsellorInput:
    id: strawberry.ID
    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    role: enums.StaffRole | None = None
    active: bool | None = None
    only_own_clients: bool | None = None


@strawberry.input
class CreateClientInput:
    display_name: str
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    language: str | None = None
    primary_counsellor_id: strawberry.ID | None = None


@strawberry.input
class UpdateClientProfileInput:
    id: strawberry.ID
    display_name: str | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    language: str | None = None


@strawberry.input
class ChangePrimaryCounsellorInput:
    client_id: strawberry.ID
    counsellor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Null removes the primary counsellor."
    )
    reason: str | None = None


@strawberry.input
class SetMailAvailabilityInput:
    mode: enums.MailAvailability
    resources: int | None = None
    counsellor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins may set it for another counsellor; default: the viewer."
    )


@strawberry.input
class SetAbsenceInput:
    absent: bool
    message: str | None = None
    counsellor_id: strawberry.ID | None = strawberry.field(
        default=None, description="Admins may set it for another counsellor; default: the viewer."
    )


@strawberry.input
class SubmitRequestInput:
    channel: enums.Channel
    message: str
    subject: str | None = None
    idempotency_key: str | None = strawberry.field(
        default=None,
        description="A retried submit with the same key returns the first request instead of a new one.",
    )


@strawberry.input
class UpdateSettingsInput:
    primary_chat_wait_seconds: int | None = strawberry.field(
        default=None,
        description="Seconds a chat waits for a busy primary before others are offered it (0: none).",
    )
    presence_timeout_seconds: int | None = strawberry.field(
        default=None, description="Seconds without a sign of life after which a counsellor goes OFFLINE."
    )
    accept_timeout_seconds: int | None = strawberry.field(
        default=strawberry.UNSET,
        description="Seconds to accept an assigned chat before it is offered again; null: off.",
    )
    fallback_counsellor_id: strawberry.ID | None = strawberry.field(
        default=strawberry.UNSET, description="Null clears the fallback counsellor."
    )


@strawberry.input
class ReassignClientsInput:
    from_counsellor_id: strawberry.ID
    to_counsellor_id: strawberry.ID
    reason: str | None = None
