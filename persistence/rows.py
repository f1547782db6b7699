"""Row <-> domain object mapping, and keyset cursors."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row

from domain.errors import BadUserInput
from domain.model import (
    AccountStatus,
    AssignmentSource,
    AuditEntry,
    Channel,
    Client,
    Counsellor,
    InvitationStatus,
    MailAvailability,
    OnlineStatus,
    PrimaryCounsellorChange,
    Request,
    RequestStatus,
    RoutingReason,
    RoutingStep,
    Settings,
    StaffRole,
    TraceOutcome,
)


def settings(row: Row[Any] | None, prefix: str = "") -> Settings:
    """The settings row (its columns named with `prefix`); the defaults when there is none."""
    m = row._mapping if row is not None else {}
    if m.get(f"{prefix}id") is None:
        return Settings()
    return Settings(
        fallback_counsellor_id=m[f"{prefix}fallback_counsellor_id"],
        primary_chat_wait_seconds=m[f"{prefix}primary_chat_wait_seconds"],
        presence_timeout_seconds=m[f"{prefix}presence_timeout_seconds"],
        accept_timeout_seconds=m[f"{prefix}accept_timeout_seconds"],
    )


def sort_name(display_name: str) -> str:
    """The case-insensitive ordering key of a display name."""
    return display_name.casefold()[:200]


def counsellor(row: Row[Any], prefix: str = "") -> Counsellor:
    """A counsellor from a row, or from the columns named `prefix` + column of a wider row."""
    m: Mapping[Any, Any] = row._mapping
    if prefix:
        m = {k[len(prefix) :]: v for k, v in m.items() if k.startswith(prefix)}
    return Counsellor(
        id=m["id"],
        email=m["email"],
        password_hash=m["password_hash"],
        display_name=m["display_name"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        role=StaffRole(m["role"]),
        active=m["active"],
        online_status=OnlineStatus(m["online_status"]),
        chat_capacity=m["chat_capacity"],
        active_chat_count=m["active_chat_count"],
        mail_availability=MailAvailability(m["mail_availability"]),
        mail_resources=m["mail_resources"],
        open_mail_count=m["open_mail_count"],
        absent=m["absent"],
        absence_message=m["absence_message"],
        only_own_clients=m["only_own_clients"],
        last_chat_assigned_at=m["last_chat_assigned_at"],
        last_mail_assigned_at=m["last_mail_assigned_at"],
        last_seen_at=m["last_seen_at"],
        session_generation=m["session_generation"],
        created_at=m["created_at"],
        invitation_status=InvitationStatus(m["invitation_status"]),
        last_login_at=m["last_login_at"],
    )


def counsellor_values(c: Counsellor) -> dict[str, Any]:
    """The columns `save` writes: everything but loads and assignment times."""
    return {
        "email": c.email,
        "password_hash": c.password_hash,
        "display_name": c.display_name,
        "sort_name": sort_name(c.display_name),
        "first_name": c.first_name,
        "last_name": c.last_name,
        "role": c.role.value,
        "active": c.active,
        "online_status": c.online_status.value,
        "chat_capacity": c.chat_capacity,
        "mail_availability": c.mail_availability.value,
        "mail_resources": c.mail_resources,
        "absent": c.absent,
        "absence_message": c.absence_message,
        "only_own_clients": c.only_own_clients,
        "session_generation": c.session_generation,
        "invitation_status": c.invitation_status.value,
    }


def client(row: Row[Any]) -> Client:
    m = row._mapping
    return Client(
        id=m["id"],
        client_code=m["client_code"],
        display_name=m["display_name"],
        email=m["email"],
        first_name=m["first_name"],
        last_name=m["last_name"],
        phone=m["phone"],
        language=m["language"],
        invitation_status=InvitationStatus(m["invitation_status"]),
        account_status=AccountStatus(m["account_status"]),
        password_hash=m["password_hash"],
        last_login_at=m["last_login_at"],
        created_at=m["created_at"],
        primary_counsellor_id=m["primary_counsellor_id"],
        session_generation=m["session_generation"],
        erased_at=m["erased_at"],
        deleted_at=m["deleted_at"],
        erasure_due_at=m["erasure_due_at"],
        open_request_count=m.get("open_request_count"),
        last_request_at=m.get("last_request_at"),
    )


def search_text(c: Client) -> str:
    """What the client overview's search matches, case-folded in Python (Unicode-aware)."""
    parts = (c.display_name, c.email, c.first_name, c.last_name, c.client_code)
    return " ".join(p for p in parts if p).casefold()


def client_profile_values(c: Client) -> dict[str, Any]:
    """The columns a profile change writes (with the search and sort keys made from them)."""
    return {
        "search_text": search_text(c),
        "display_name": c.display_name,
        "sort_name": sort_name(c.display_name),
        "email": c.email,
        "first_name": c.first_name,
        "last_name": c.last_name,
        "phone": c.phone,
        "language": c.language,
    }


def client_values(c: Client) -> dict[str, Any]:
    """Every column but the primary counsellor (a new client, an erasure, `save`)."""
    return client_profile_values(c) | {
        "client_code": c.client_code,
        "invitation_status": c.invitation_status.value,
        "account_status": c.account_status.value,
        "password_hash": c.password_hash,
        "last_login_at": c.last_login_at,
        "created_at": c.created_at,
        "session_generation": c.session_generation,
        "erased_at": c.erased_at,
        "deleted_at": c.deleted_at,
        "erasure_due_at": c.erasure_due_at,
    }


def request(row: Row[Any]) -> Request:
    m = row._mapping
    reason = m["routing_reason"]
    return Request(
        id=m["id"],
        client_id=m["client_id"],
        channel=Channel(m["channel"]),
        status=RequestStatus(m["status"]),
        subject=m["subject"],
        message=m["message"],
        counsellor_id=m["counsellor_id"],
        routing_reason=RoutingReason(reason) if reason else None,
        created_at=m["created_at"],
        assigned_at=m["assigned_at"],
        closed_at=m["closed_at"],
        idempotency_key=m["idempotency_key"],
        waiting_for_id=m["waiting_for_id"],
        wait_until=m["wait_until"],
        accepted_at=m["accepted_at"],
        excluded_ids=tuple(m["excluded_ids"] or ()),
        set_primary=m["set_primary"],
        trace=tuple(_step(s) for s in m["trace"] or ()),
        updated_at=m["updated_at"],
    )


def _step(stored: dict[str, Any]) -> RoutingStep:
    return RoutingStep(
        at=datetime.fromisoformat(stored["at"]),
        outcome=TraceOutcome(stored["outcome"]),
        counsellor_id=stored.get("counsellor_id"),
        detail=stored.get("detail"),
    )


def _stored_step(step: RoutingStep) -> dict[str, Any]:
    return {
        "at": step.at.isoformat(),
        "outcome": step.outcome.value,
        "counsellor_id": step.counsellor_id,
        "detail": step.detail,
    }


def request_values(r: Request) -> dict[str, Any]:
    return {
        "client_id": r.client_id,
        "channel": r.channel.value,
        "subject": r.subject,
        "message": r.message,
        "created_at": r.created_at,
        "idempotency_key": r.idempotency_key,
        **transition_values(r),
    }


def transition_values(r: Request) -> dict[str, Any]:
    """The columns a request's transitions change (never its texts, client or channel)."""
    return {
        "status": r.status.value,
        "counsellor_id": r.counsellor_id,
        "routing_reason": r.routing_reason.value if r.routing_reason else None,
        "assigned_at": r.assigned_at,
        "closed_at": r.closed_at,
        "waiting_for_id": r.waiting_for_id,
        "wait_until": r.wait_until,
        "accepted_at": r.accepted_at,
        "excluded_ids": list(r.excluded_ids),
        "set_primary": r.set_primary,
        "trace": [_stored_step(step) for step in r.trace],
        "updated_at": r.last_changed_at,
    }


def change(row: Row[Any]) -> PrimaryCounsellorChange:
    m = row._mapping
    return PrimaryCounsellorChange(
        id=m["id"],
        client_id=m["client_id"],
        previous_counsellor_id=m["previous_counsellor_id"],
        new_counsellor_id=m["new_counsellor_id"],
        source=AssignmentSource(m["source"]),
        changed_by_id=m["changed_by_id"],
        reason=m["reason"],
        changed_at=m["changed_at"],
    )


def audit_entry(row: Row[Any]) -> AuditEntry:
    m = row._mapping
    return AuditEntry(
        id=m["id"],
        at=m["at"],
        actor_id=m["actor_id"],
        action=m["action"],
        subject_type=m["subject_type"],
        subject_id=m["subject_id"],
        detail=m["detail"],
    )


def encode_cursor(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


MAX_ROW_ID = 2**31 - 1


def _fits(value: object, kind: type) -> bool:
    if kind is int:
        return type(value) is int and 0 <= value <= MAX_ROW_ID
    if kind is str:
        # JSON can carry what no database parameter takes: a NUL, a lone surrogate.
        return type(value) is str and "\x00" not in value and _encodable(value)
    return type(value) is kind


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def decode_cursor(cursor: str, *kinds: type) -> list[Any]:
    """The key inside a cursor this service made, one value of each kind; BAD_USER_INPUT otherwise."""
    bad = BadUserInput("after is not a cursor of this list.", field="after")
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeError, RecursionError) as exc:
        raise bad from exc
    if not isinstance(key, list) or len(key) != len(kinds):
        raise bad
    if not all(_fits(value, kind) for value, kind in zip(key, kinds, strict=True)):
        raise bad
    return key


def request_time(value: Any) -> Any:
    """An aggregate's datetime, which bypasses the column type: attach UTC on SQLite."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value
