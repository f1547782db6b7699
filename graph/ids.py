"""Global ids: opaque strings naming a type and a row, e.g. base64("Counsellor:12")."""

from __future__ import annotations

import base64
import binascii

import strawberry

from domain.errors import BadUserInput, NotFound

KINDS = (
    "Counsellor",
    "Client",
    "Request",
    "PrimaryCounsellorChange",
    "Note",
    "MonitoringTopic",
    "MonitoringEntry",
    "Document",
)


def encode(kind: str, row_id: int) -> strawberry.ID:
    return strawberry.ID(base64.urlsafe_b64encode(f"{kind}:{row_id}".encode()).decode().rstrip("="))


def decode_any(global_id: str, field: str = "id") -> tuple[str, int]:
    """(kind, row id); BAD_USER_INPUT naming `field` when it is no id of this service."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        kind, _, raw = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        row_id = int(raw)
    except (ValueError, UnicodeError, binascii.Error) as exc:
        raise BadUserInput(f"{field} is not a valid id.", field=field) from exc
    if kind not in KINDS or row_id <= 0 or row_id > 2**31 - 1:
        raise BadUserInput(f"{field} is not a valid id.", field=field)
    return kind, row_id


def decode(global_id: str, kind: str, field: str = "id") -> int:
    """The row id of a `kind` id; NOT_FOUND when the id names another kind."""
    found, row_id = decode_any(global_id, field)
    if found != kind:
        raise NotFound(f"{field} names no {kind}.", field=field)
    return row_id


def decode_optional(global_id: str | None, kind: str, field: str) -> int | None:
    return None if global_id is None else decode(global_id, kind, field)
