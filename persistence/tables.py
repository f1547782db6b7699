"""The database schema (SQLAlchemy Core). Migrations in persistence/migrations follow it.

Columns of user text are sized from the limits in domain/validation.py: plain text in characters
(PostgreSQL's varchar counts characters), encrypted text by its longest stored form. Raising a limit
changes a column here, which the drift test reports until a migration follows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)

from domain.file_types import MAX_FILE_NAME
from domain.monitoring import MAX_OUTCOME, MAX_TOPIC_NAME
from domain.validation import (
    MAX_IDEMPOTENCY_KEY,
    MAX_LANGUAGE,
    MAX_NAME,
    MAX_PHONE,
    MAX_SUBJECT,
)
from persistence.crypto import stored_length

# Wider than MAX_EMAIL (254): addresses of up to 320 characters were accepted before that limit.
EMAIL_LENGTH = 320


class UtcDateTime(TypeDecorator[datetime]):
    """Stores UTC and gives it back with the offset, also on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

counsellors = Table(
    "counsellors",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("email", String(EMAIL_LENGTH), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("display_name", String(MAX_NAME), nullable=False),
    # Truncated to 200 characters by persistence.rows.sort_name.
    Column("sort_name", String(200), nullable=False),
    Column("first_name", String(MAX_NAME)),
    Column("last_name", String(MAX_NAME)),
    Column("role", String(16), nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Column("online_status", String(16), nullable=False),
    Column("chat_capacity", Integer, nullable=False),
    Column("active_chat_count", Integer, nullable=False, default=0),
    Column("mail_availability", String(24), nullable=False),
    Column("mail_resources", Integer, nullable=False),
    Column("open_mail_count", Integer, nullable=False, default=0),
    Column("absent", Boolean, nullable=False, default=False),
    Column("absence_message", Text),
    Column("only_own_clients", Boolean, nullable=False, default=False),
    Column("last_chat_assigned_at", UtcDateTime),
    Column("last_mail_assigned_at", UtcDateTime),
    Column("last_seen_at", UtcDateTime),
    Column("session_generation", Integer, nullable=False, default=0),
    Column("created_at", UtcDateTime, nullable=False),
    Column("invitation_status", String(16), nullable=False, server_default="REGISTERED"),
    Column("last_login_at", UtcDateTime),
    CheckConstraint("active_chat_count >= 0", name="chat_load"),
    CheckConstraint("open_mail_count >= 0", name="mail_load"),
    # The candidate queries of routing: free on a channel, best first.
    Index("ix_counsellors_chat_choice", "online_status", "active_chat_count", "last_chat_assigned_at"),
    Index("ix_counsellors_mail_choice", "mail_availability", "open_mail_count", "last_mail_assigned_at"),
    Index("ix_counsellors_sort_name", "sort_name", "id"),
)

clients = Table(
    "clients",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_code", String(6), nullable=False, unique=True),
    Column("display_name", String(MAX_NAME), nullable=False),
    Column("sort_name", String(200), nullable=False),
    Column("email", String(EMAIL_LENGTH), unique=True),
    Column("first_name", String(MAX_NAME)),
    Column("last_name", String(MAX_NAME)),
    Column("phone", String(MAX_PHONE)),
    Column("language", String(MAX_LANGUAGE)),
    Column("invitation_status", String(16), nullable=False),
    Column("account_status", String(16), nullable=False),
    Column("password_hash", String(255)),
    Column("last_login_at", UtcDateTime),
    Column("created_at", UtcDateTime, nullable=False),
    Column("primary_counsellor_id", Integer, ForeignKey("counsellors.id")),
    # Case-folded name, e-mail and code: databases disagree on lower() beyond ASCII.
    Column("search_text", Text, nullable=False, default=""),
    Column("session_generation", Integer, nullable=False, default=0),
    Column("erased_at", UtcDateTime),
    Column("deleted_at", UtcDateTime),
    Column("erasure_due_at", UtcDateTime),
    Index("ix_clients_sort_name", "sort_name", "id"),
    Index("ix_clients_primary", "primary_counsellor_id", "sort_name", "id"),
    # The member list sorted by last login, and the sweep's due erasures.
    Index("ix_clients_last_login", "last_login_at", "id"),
    Index("ix_clients_erasure_due", "erasure_due_at"),
)

# The number of clients, kept by triggers on `clients` (migration 0010): the admin's unfiltered
# overview sums it instead of counting every client. Spread over slot rows (slot = client id % 16)
# so concurrent registrations do not all wait for one row's lock.
client_totals = Table(
    "client_totals",
    metadata,
    Column("slot", Integer, primary_key=True, autoincrement=False),
    Column("n", Integer, nullable=False),
)

requests = Table(
    "requests",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("channel", String(8), nullable=False),
    Column("status", String(16), nullable=False),
    # Encrypted (persistence.crypto): a subject of MAX_SUBJECT characters takes up to 1107.
    Column("subject", String(stored_length(MAX_SUBJECT))),
    Column("message", Text),
    Column("counsellor_id", Integer, ForeignKey("counsellors.id")),
    Column("routing_reason", String(24)),
    Column("created_at", UtcDateTime, nullable=False),
    Column("assigned_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    Column("idempotency_key", String(MAX_IDEMPOTENCY_KEY)),
    Column("waiting_for_id", Integer, ForeignKey("counsellors.id")),
    Column("wait_until", UtcDateTime),
    Column("accepted_at", UtcDateTime),
    Column("excluded_ids", JSON, nullable=False, default=list),
    Column("set_primary", Boolean, nullable=False, default=False),
    Column("trace", JSON, nullable=False, default=list),
    # Set by every transition (nullable only so that migration 0009 could add it without copying
    # the table on SQLite; it filled every row, and the repository always writes it).
    Column("updated_at", UtcDateTime),
    UniqueConstraint("client_id", "idempotency_key", name="uq_requests_idempotency"),
    Index("ix_requests_status", "status", "id"),
    Index("ix_requests_client", "client_id", "id"),
    Index("ix_requests_counsellor", "counsellor_id", "status"),
    Index("ix_requests_unaccepted", "status", "accepted_at", "assigned_at"),
    # The catch-ups after a lost event (domain/use_cases/catch_up.py).
    Index("ix_requests_updated", "updated_at", "id"),
    Index("ix_requests_counsellor_assigned", "counsellor_id", "assigned_at"),
)

request_handlers = Table(
    "request_handlers",
    metadata,
    Column("request_id", Integer, ForeignKey("requests.id"), primary_key=True),
    Column("counsellor_id", Integer, ForeignKey("counsellors.id"), primary_key=True),
    Index("ix_request_handlers_counsellor", "counsellor_id", "request_id"),
)

primary_counsellor_changes = Table(
    "primary_counsellor_changes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("previous_counsellor_id", Integer, ForeignKey("counsellors.id")),
    Column("new_counsellor_id", Integer, ForeignKey("counsellors.id")),
    Column("source", String(16), nullable=False),
    Column("changed_by_id", Integer, ForeignKey("counsellors.id")),
    Column("reason", Text),
    Column("changed_at", UtcDateTime, nullable=False),
    Index("ix_primary_changes_client", "client_id", "id"),
    Index("ix_primary_changes_changed", "changed_at", "id"),
)

settings = Table(
    "settings",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("fallback_counsellor_id", Integer, ForeignKey("counsellors.id")),
    Column("primary_chat_wait_seconds", Integer, nullable=False, default=0),
    Column("presence_timeout_seconds", Integer, nullable=False, default=60),
    Column("accept_timeout_seconds", Integer),
)

revoked_tokens = Table(
    "revoked_tokens",
    metadata,
    Column("token_id", String(64), primary_key=True),
    Column("expires_at", UtcDateTime, nullable=False),
)

invitation_outbox = Table(
    "invitation_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("email", String(EMAIL_LENGTH), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("sent_at", UtcDateTime),
)

rate_limit_hits = Table(
    "rate_limit_hits",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("key", String(400), nullable=False),
    Column("at", UtcDateTime, nullable=False),
    Index("ix_rate_limit_hits_key", "key", "at"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", UtcDateTime, nullable=False),
    Column("actor_id", Integer, ForeignKey("counsellors.id")),
    Column("action", String(64), nullable=False),
    Column("subject_type", String(32), nullable=False),
    Column("subject_id", Integer, nullable=False),
    Column("detail", Text),
)

# The client folder: notes and monitoring (texts encrypted; see persistence.crypto).

notes = Table(
    "notes",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("author_id", Integer, ForeignKey("counsellors.id")),
    # Encrypted: a note of MAX_NOTE characters takes up to stored_length(MAX_NOTE).
    Column("text", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("edited_at", UtcDateTime),
    Index("ix_notes_client", "client_id", "id"),
)

monitoring_topics = Table(
    "monitoring_topics",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(MAX_TOPIC_NAME), nullable=False),
    Column("parent_id", Integer, ForeignKey("monitoring_topics.id")),
    Column("active", Boolean, nullable=False, default=True),
)

monitoring_entries = Table(
    "monitoring_entries",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    Column("counsellor_id", Integer, ForeignKey("counsellors.id")),
    Column("contact_at", UtcDateTime, nullable=False),
    Column("channel", String(8), nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    # Encrypted, like the note.
    Column("outcome", String(stored_length(MAX_OUTCOME))),
    Column("note", Text),
    Column("created_at", UtcDateTime, nullable=False),
    CheckConstraint("duration_minutes > 0", name="duration"),
    Index("ix_monitoring_entries_client", "client_id", "contact_at", "id"),
    Index("ix_monitoring_entries_contact", "contact_at"),
)

monitoring_entry_topics = Table(
    "monitoring_entry_topics",
    metadata,
    Column("entry_id", Integer, ForeignKey("monitoring_entries.id"), primary_key=True),
    Column("topic_id", Integer, ForeignKey("monitoring_topics.id"), primary_key=True),
    Index("ix_monitoring_entry_topics_topic", "topic_id", "entry_id"),
)

documents = Table(
    "documents",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("client_id", Integer, ForeignKey("clients.id"), nullable=False),
    # Encrypted (persistence.crypto): a file name says something about its client.
    Column("file_name", String(stored_length(MAX_FILE_NAME)), nullable=False),
    Column("content_type", String(100), nullable=False),
    Column("size_bytes", Integer, nullable=False),
    Column("uploaded_by_id", Integer, ForeignKey("counsellors.id")),
    Column("uploaded_at", UtcDateTime, nullable=False),
    # Names the encrypted file in the blob store; random, so the store reveals nothing.
    Column("blob_key", String(64), nullable=False, unique=True),
    Index("ix_documents_client", "client_id", "id"),
)

# One-time invitations to set a password: only the SHA-256 of the token is stored.
invitations = Table(
    "invitations",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("client_id", Integer, ForeignKey("clients.id")),
    Column("counsellor_id", Integer, ForeignKey("counsellors.id")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("used_at", UtcDateTime),
    Index("ix_invitations_client", "client_id"),
    Index("ix_invitations_counsellor", "counsellor_id"),
)

# Mails to send, written in the transaction that makes them necessary; the sender claims rows
# (claim, claimed_until) so two processes never send one twice.
mail_outbox = Table(
    "mail_outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("recipient", String(EMAIL_LENGTH), nullable=False),
    Column("subject", String(200), nullable=False),
    # Encrypted (persistence.crypto): it carries the invitation link.
    Column("body", Text, nullable=False),
    Column("client_id", Integer, ForeignKey("clients.id")),
    Column("created_at", UtcDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", UtcDateTime, nullable=False),
    Column("claim", String(64)),
    Column("claimed_until", UtcDateTime),
    Column("sent_at", UtcDateTime),
    Index("ix_mail_outbox_due", "sent_at", "next_attempt_at"),
)
