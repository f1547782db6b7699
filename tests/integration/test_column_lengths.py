"""Every column of text fits the longest value the service may write into it, on the migrated database.

The worst cases are computed from the current limits in domain/validation.py: plain text in
characters (PostgreSQL's varchar counts characters), encrypted text by its longest stored form. The
migrations hold frozen numbers, so raising a limit without a migration fails here. Every String
and Text column of persistence/tables.py has to be listed, so a new one cannot be forgotten.
"""

from __future__ import annotations

import enum
import secrets

from sqlalchemy import String, inspect
from sqlalchemy.engine import Connection

from domain import file_types, model
from domain import monitoring as mon
from domain import validation as v
from domain.notes import MAX_NOTE
from graph.auth import Argon2Hasher
from persistence import rows
from persistence.crypto import TextCipher, stored_length
from persistence.database import Engines
from persistence.tables import metadata

UNBOUNDED = -1  # the column must have no length at all (Text)


def _longest(kind: type[enum.StrEnum]) -> int:
    return max(len(member.value) for member in kind)


# argon2 hashes have one length for every password (the production parameters are used).
HASH = len(Argon2Hasher().hash("ß" * v.MAX_PASSWORD))

# (table, column) -> the longest text the service writes there, in characters.
WORST_CASE: dict[tuple[str, str], int] = {
    ("counsellors", "email"): v.MAX_EMAIL,
    ("counsellors", "password_hash"): HASH,
    ("counsellors", "display_name"): v.MAX_NAME,
    # Case folding can triple a character (ﬃ becomes ffi); sort_name cuts the result off.
    ("counsellors", "sort_name"): len(rows.sort_name("ﬃ" * v.MAX_NAME)),
    ("counsellors", "first_name"): v.MAX_NAME,
    ("counsellors", "last_name"): v.MAX_NAME,
    ("counsellors", "role"): _longest(model.StaffRole),
    ("counsellors", "online_status"): _longest(model.OnlineStatus),
    ("counsellors", "mail_availability"): _longest(model.MailAvailability),
    ("counsellors", "absence_message"): v.MAX_REASON,
    ("clients", "display_name"): v.MAX_NAME,
    ("clients", "sort_name"): len(rows.sort_name("ﬃ" * v.MAX_NAME)),
    ("clients", "email"): v.MAX_EMAIL,
    ("clients", "first_name"): v.MAX_NAME,
    ("clients", "last_name"): v.MAX_NAME,
    ("clients", "phone"): v.MAX_PHONE,
    ("clients", "language"): v.MAX_LANGUAGE,
    ("clients", "invitation_status"): _longest(model.InvitationStatus),
    ("clients", "account_status"): _longest(model.AccountStatus),
    ("clients", "password_hash"): HASH,
    # Several case-folded fields joined: as long as they are together.
    ("clients", "search_text"): UNBOUNDED,
    ("requests", "channel"): _longest(model.Channel),
    ("requests", "status"): _longest(model.RequestStatus),
    ("requests", "subject"): stored_length(v.MAX_SUBJECT),
    ("requests", "message"): stored_length(v.MAX_MESSAGE),
    ("requests", "routing_reason"): _longest(model.RoutingReason),
    ("requests", "idempotency_key"): v.MAX_IDEMPOTENCY_KEY,
    ("primary_counsellor_changes", "source"): _longest(model.AssignmentSource),
    ("primary_counsellor_changes", "reason"): v.MAX_REASON,
    ("invitation_outbox", "email"): v.MAX_EMAIL,
    ("notes", "text"): stored_length(MAX_NOTE),
    ("monitoring_topics", "name"): mon.MAX_TOPIC_NAME,
    ("monitoring_entries", "channel"): _longest(model.Channel),
    ("monitoring_entries", "outcome"): stored_length(mon.MAX_OUTCOME),
    ("monitoring_entries", "note"): stored_length(mon.MAX_ENTRY_NOTE),
    ("documents", "file_name"): stored_length(file_types.MAX_FILE_NAME),
    ("documents", "content_type"): max(len(t) for t in file_types.ALL),
    ("counsellors", "invitation_status"): _longest(model.InvitationStatus),
    ("mail_outbox", "recipient"): v.MAX_EMAIL,
    # Encrypted; the body holds a display name and the link: unbounded.
    ("mail_outbox", "body"): UNBOUNDED,
}

# Columns only the service's own code fills, never with user text (and why they fit).
INTERNAL = {
    ("clients", "client_code"): "six characters drawn by the service",
    ("revoked_tokens", "token_id"): "a token's jti, secrets.token_urlsafe(16)",
    ("rate_limit_hits", "key"): "a kind and 32 hex digits of a hash, never the address itself",
    ("audit_log", "action"): "a name from the code",
    ("audit_log", "subject_type"): "a name from the code",
    ("audit_log", "detail"): "text, unbounded",
    ("documents", "blob_key"): "32 hex digits, secrets.token_hex(16)",
    ("invitations", "token_hash"): "64 hex digits of a SHA-256",
    ("invitations", "kind"): "CLIENT or COUNSELLOR",
    ("mail_outbox", "subject"): "a subject line from the code",
    ("mail_outbox", "claim"): "32 hex digits, secrets.token_hex(16)",
}


def _text_columns() -> set[tuple[str, str]]:
    return {
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, String)  # Text is a String too
    }


def _lengths(connection: Connection) -> dict[tuple[str, str], int | None]:
    inspector = inspect(connection)
    return {
        (table, column["name"]): getattr(column["type"], "length", None)
        for table in metadata.tables
        for column in inspector.get_columns(table)
    }


def _fits(length: int | None, worst: int) -> bool:
    return length is None or (worst != UNBOUNDED and length >= worst)


def test_every_text_column_has_a_known_worst_case() -> None:
    assert _text_columns() == set(WORST_CASE) | set(INTERNAL)


def test_the_stored_length_of_an_encrypted_text_is_its_worst_case() -> None:
    """4-byte characters reach stored_length exactly; a mix of narrower ones stays below it."""
    cipher = TextCipher(secrets.token_bytes(32))
    for characters in (0, 1, 2, 3, v.MAX_SUBJECT):
        widest = cipher.encrypt("😀" * characters)
        mixed = cipher.encrypt("äß😀a" * (characters // 4))
        assert widest is not None and mixed is not None
        assert len(widest) == stored_length(characters)
        assert len(mixed) <= stored_length(characters)


async def test_every_migrated_text_column_fits_its_worst_case(engines: Engines) -> None:
    async with engines.write.connect() as conn:
        lengths = await conn.run_sync(_lengths)
    too_short = {
        column: (lengths[column], worst)
        for column, worst in WORST_CASE.items()
        if not _fits(lengths[column], worst)
    }
    assert too_short == {}, "column: (length, longest value); add a migration"
