"""Input rules: lengths, ranges and formats, each error naming the offending field."""

from __future__ import annotations

import re

from domain.errors import BadUserInput

MAX_NAME = 200
MAX_SUBJECT = 200
MAX_MESSAGE = 20_000
MAX_REASON = 2_000
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
    if len(cleaned) > max_length:
        raise BadUserInput(f"{field} is longer than {max_length} characters.", field=field)
    if "\x00" in cleaned:
        raise BadUserInput(f"{field} contains a NUL character.", field=field)
    return cleaned


def optional_text(value: str | None, field: str, max_length: int = MAX_NAME) -> str | None:
    """Like `text`, but None and blank mean 'not stated'."""
    if value is None:
        return None
    cleaned = text(value, field, max_length, required=False)
    return cleaned or None


def email(value: str, field: str) -> str:
    cleaned = text(value, field, 320).lower()
    if not _EMAIL.match(cleaned):
        raise BadUserInput(f"{field} is not an e-mail address.", field=field)
    return cleaned


def optional_email(value: str | None, field: str) -> str | None:
    return None if value is None or not value.strip() else email(value, field)


def language(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    if not _LANGUAGE.match(value.strip()):
        raise BadUserInput(f"{field} is not a language tag such as de or tr.", field=field)
    return value.strip()


def phone(value: str | None, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    if not _PHONE.match(value.strip()):
        raise BadUserInput(f"{field} is not a phone number.", field=field)
    return value.strip()


def whole_number(value: int, field: str, maximum: int) -> int:
    """`value` within 0..maximum."""
    if value < 0 or value > maximum:
        raise BadUserInput(f"{field} must be between 0 and {maximum}.", field=field)
    return value


def password(value: str, field: str, email_address: str | None = None) -> str:
    """At least MIN_PASSWORD characters, at most MAX_PASSWORD, and not the e-mail address."""
    if len(value) < MIN_PASSWORD:
        raise BadUserInput(f"{field} needs at least {MIN_PASSWORD} characters.", field=field)
    if len(value) > MAX_PASSWORD:
        raise BadUserInput(f"{field} is longer than {MAX_PASSWORD} characters.", field=field)
    if email_address and value.strip().lower() == email_address.lower():
        raise BadUserInput(f"{field} must not be the e-mail address.", field=field)
    return value
