"""Who sees what and who may do what (routing.md, "Who sees what"): one check per rule, for
records and, through the views at the end, for every field of them at every depth."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from domain.errors import Forbidden, NotFound, Unauthenticated
from domain.model import (
    AccountStatus,
    Client,
    Counsellor,
    InvitationStatus,
    OnlineStatus,
    PrimaryCounsellorChange,
    Request,
    RoutingStep,
    Viewer,
)


def require_authenticated(viewer: Viewer) -> None:
    if viewer.is_anonymous:
        raise Unauthenticated("Sign in first.")


def require_staff(viewer: Viewer) -> int:
    """The viewer's counsellor id; FORBIDDEN for clients."""
    require_authenticated(viewer)
    if not viewer.is_staff or viewer.counsellor_id is None:
        raise Forbidden("Only staff may do this.")
    return viewer.counsellor_id


def require_admin(viewer: Viewer) -> int:
    """The admin's counsellor id; FORBIDDEN for everyone else."""
    me = require_staff(viewer)
    if not viewer.is_admin:
        raise Forbidden("Only admins may do this.")
    return me


def require_client(viewer: Viewer) -> int:
    """The viewer's client id; FORBIDDEN for staff."""
    require_authenticated(viewer)
    if not viewer.is_client or viewer.client_id is None:
        raise Forbidden("Only clients may do this.")
    return viewer.client_id


def acting_counsellor(viewer: Viewer, counsellor_id: int | None) -> int:
    """The counsellor a staff member acts for: themselves, or anyone when admin."""
    me = require_staff(viewer)
    if counsellor_id is None or counsellor_id == me:
        return me
    if not viewer.is_admin:
        raise Forbidden("Only admins may act for another counsellor.", field="counsellorId")
    return counsellor_id


def sees_client(viewer: Viewer, client: Client, holder_ids: set[int]) -> bool:
    """Admins all; counsellors their primary clients and the clients of requests they hold."""
    if viewer.is_admin or client.id in viewer.granted_client_ids:
        return True
    if viewer.is_staff:
        return client.primary_counsellor_id == viewer.counsellor_id or viewer.counsellor_id in holder_ids
    return viewer.is_client and client.id == viewer.client_id


def sees_request(
    viewer: Viewer, request: Request, client_primary_id: int | None, handled_by_viewer: bool
) -> bool:
    """Admins all; counsellors those they hold or held and those of their primary clients."""
    if viewer.is_admin:
        return True
    if viewer.is_staff:
        me = viewer.counsellor_id
        return request.counsellor_id == me or handled_by_viewer or client_primary_id == me
    return viewer.is_client and request.client_id == viewer.client_id


def sees_primary_change(
    viewer: Viewer, change: PrimaryCounsellorChange, client_primary_id: int | None, holder_ids: set[int]
) -> bool:
    """Who is sent a primary change read back later (a catch-up): admins; the counsellors it names
    (they could see the client before or after it); and who may see the client now (its primary,
    the holders of its requests), who may read its whole history anyway. Live events go to
    `PrimaryCounsellorChanged.visible_to`, the holders at the time of the change, which are not kept."""
    if viewer.is_admin:
        return True
    if not viewer.is_staff or viewer.counsellor_id is None:
        return False
    me = viewer.counsellor_id
    return (
        me in (change.previous_counsellor_id, change.new_counsellor_id, client_primary_id) or me in holder_ids
    )


def sees_counsellor(viewer: Viewer, counsellor_id: int, related_ids: set[int]) -> bool:
    """Staff see every colleague; a client only the counsellors on their requests and history."""
    if viewer.is_staff:
        return True
    return viewer.is_client and counsellor_id in related_ids


def presence_only(viewer: Viewer) -> bool:
    """Clients read only a counsellor's presence fields."""
    return not viewer.is_staff


def not_found(kind: str, field: str = "id") -> NotFound:
    """What an invisible or missing record reads as: never someone else's data."""
    return NotFound(f"{kind} not found.", field=field)


def require_change_primary(viewer: Viewer, sees: bool) -> None:
    """Admins, and counsellors on clients they can see, may change a primary by hand."""
    require_staff(viewer)
    if not sees:
        raise not_found("Client", "input.clientId")


@dataclass(frozen=True)
class CounsellorView:
    """One counsellor as one viewer may read them: staff read everything (`details`); clients only
    what `CounsellorPresence` holds, every other field null (`details` None)."""

    id: int
    display_name: str
    online_status: OnlineStatus
    absent: bool
    absence_message: str | None
    details: Counsellor | None


def counsellor_view(viewer: Viewer, counsellor: Counsellor) -> CounsellorView:
    """Whoever reaches a counsellor reads this; the absence message only while absent."""
    return CounsellorView(
        id=counsellor.id,
        display_name=counsellor.display_name,
        online_status=counsellor.online_status,
        absent=counsellor.absent,
        absence_message=counsellor.absence_message if counsellor.absent else None,
        details=None if presence_only(viewer) else counsellor,
    )


@dataclass(frozen=True)
class ClientView:
    """One client as one viewer may read them. `details` is the client for whoever may see them;
    for a viewer who may not, it is None: the redacted client, which keeps only the id, the client
    code, the display name and the states the schema cannot leave null. Every other field is null,
    every list empty."""

    id: int
    client_code: str
    display_name: str
    invitation_status: InvitationStatus
    account_status: AccountStatus
    created_at: datetime
    details: Client | None

    @property
    def redacted(self) -> bool:
        return self.details is None


def _client_view(client: Client, full: bool) -> ClientView:
    return ClientView(
        id=client.id,
        client_code=client.client_code,
        display_name=client.display_name,
        invitation_status=client.invitation_status,
        account_status=client.account_status,
        created_at=client.created_at,
        details=client if full else None,
    )


def client_view(viewer: Viewer, client: Client, holder_ids: set[int]) -> ClientView:
    """A client reached through a field that must stay non-null: in full or redacted."""
    return _client_view(client, sees_client(viewer, client, holder_ids))


def checked_client_view(client: Client) -> ClientView:
    """A client a use case returned after checking that the viewer may see them (`get_client`,
    the lists, a mutation's own result, granted to its changer): in full."""
    return _client_view(client, full=True)


def request_client_view(viewer: Viewer, client: Client, holder_ids: set[int]) -> ClientView | None:
    """The client of a request: null, not redacted, for whoever may not see them (routing.md: the
    requests a counsellor handled stay readable with `client` null)."""
    found = client_view(viewer, client, holder_ids)
    return None if found.redacted else found


def change_view(viewer: Viewer, change: PrimaryCounsellorChange) -> PrimaryCounsellorChange:
    """A history entry: staff write the reason, and act, for staff; clients read neither."""
    return change if viewer.is_staff else replace(change, reason=None, changed_by_id=None)


def routing_trace_view(viewer: Viewer, request: Request) -> tuple[RoutingStep, ...] | None:
    """How a request was routed: for staff; null for clients."""
    return None if presence_only(viewer) else request.trace


__all__ = [
    "ClientView",
    "CounsellorView",
    "Forbidden",
    "acting_counsellor",
    "change_view",
    "checked_client_view",
    "client_view",
    "counsellor_view",
    "not_found",
    "presence_only",
    "request_client_view",
    "require_admin",
    "require_authenticated",
    "require_change_primary",
    "require_client",
    "require_staff",
    "routing_trace_view",
    "sees_client",
    "sees_counsellor",
    "sees_primary_change",
    "sees_request",
]
