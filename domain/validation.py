"""Input rules: lengths, ranges and formats, each error naming the offending field."""

from __future__ import annotations

import re

from domain.errors import BadUserInput

# Text limits count characters (code points). persistence/tables.py sizes its columns from them,
# and tests/e2e/test_text_limits.py stores each at its maximum on both databases.
MAX_NAME = 200
# RFC 5321: a forward path holds at most 256 octets including the angle brackets.
MAX_EMAIL = 254
MAX_PHONE = 32
# RFC 5646 4.4.1: 35 characters hold every tag made of a language, extlang, script and region.
MAX_LANGUAGE = 35
MAX_SUBJECT = 200
MAX_MESSAGE = 20_000
MAX_REASON = 2_000
MAX_IDEMPOTENCY_KEY = 128
# A search term is never stored; a whole e-mail address is the longest useful one.
MAX_SEARCH = MAX_EMAIL
MAX_CHAT_CAPACITY = 50
MAX_MAIL_RESOURCES = 10_000
MIN_PASSWORD = 10
MAX_PASSWORD = 256
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s.]{2,63}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_PHONE = re.compile(r"^\+?[0-9 ()/-]{3,32}$")


def text(value: str, field: str, max_length: int, *, required: bool = True) -> str:
    """Trimmed `value`; BAD_USER_INPUT when empty (if required) or too long."""
    cleaned = value.strip()
    if required and not cleaned:
        raise BadUserInput(f"{field} must not be empty.", field=field)
    bounded(cleaned, field, max_length)
    if "\x00" in cleaned:
        raise BadUserInput(f"{field} contains a NUL character.", field=field)
    return cleaned


def bounded(value: str, field: str, max_length: int) -> str:
    """`value` unchanged; BAD_USER_INPUT when too long or not encodable as UTF-8.

    JSON lets a client send a lone surrogate (\\ud800), which no database and no hash can take.
    """
    if len(value) > max_length:
        raise BadUserInput(f"{field} is longer than {max_length} characters.", field=field)
    try:
        value.encode()
    except UnicodeEncodeError as exc:
        raise BadUserInput(f"{field} is not valid Unicode text.", field=field) from exc
    return value


def optional_text(value: str | None, field: str, max_length: int = MAX_NAME) -> str | None:
    """Like `text`, but None and blank mean 'not stated'."""
    if value is None:
        return None
    cleaned = text(value, field, max_length, required=False)
    return cleaned or None


def email(value: str, field: str) -> str:
    # Checked after lower-casing, which can lengthen a text (İ becomes i and a combining dot).
    cleaned = text(value.lower(), field, MAX_EMAIL)
    if not _EMAIL.match(cleaned):
        raise BadUserInput(f"{field} is not an e-mail address.", field=field)
    return cleaned


def optional_email(value: str | None, field: str) -> str | None:
    return None if value is None or not value.strip() else email(value, field)


def language(value: str | None, field: str) -> str | None:
    cleaned = optional_text(value, field, MAX_LANGUAGE)
    if cleaned is not None and not _LANGUAGE.match(cleaned):
        raise BadUserInput(f"{field} is not a language tag such as de or tr.", field=field)
    return cleaned


def phone(value: str | None, field: str) -> str | None:
    cleaned = optional_text(value, field, MAX_PHONE)
    if cleaned is not None and not _PHONE.match(cleaned):
        raise BadUserInput(f"{field} is not a phone number.", field=field)
    return cleaned


def whole_number(value: int, field: str, maximum: int) -> int:
    """`value` within 0..maximum."""
    if value < 0 or value > maximum:
        raise BadUserInput(f"{field} must be between 0 and {maximum}.", field=field)
    return value


def password(value: str, field: str, email_address: str | None = None) -> str:
    """At least MIN_PASSWORD characters, at most MAX_PASSWORD, and not the e-mail address."""
    if len(value) < MIN_PASSWORD:
        raise BadUserInput(f"{field} needs at least {MIN_PASSWORD} characters.", field=field)
    bounded(value, field, MAX_PASSWORD)
    if email_address and value.strip().lower() == email_address.lower():
        raise BadUserInput(f"{field} must not be the e-mail address.", field=field)
    return value
