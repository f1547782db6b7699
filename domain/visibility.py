"""Who sees what and who may do what (routing.md, "Who sees what"): one check per rule."""

from __future__ import annotations

from domain.errors import Forbidden, NotFound, Unauthenticated
from domain.model import Client, Request, Viewer


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


__all__ = [
    "Forbidden",
    "acting_counsellor",
    "not_found",
    "presence_only",
    "require_admin",
    "require_authenticated",
    "require_change_primary",
    "require_client",
    "require_staff",
    "sees_client",
    "sees_counsellor",
    "sees_request",
]
