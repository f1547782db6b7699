"""Short-lived download links of documents: `/files/<token>`, the token HMAC-signed.

A token holds the document's id, the id of the staff member it was issued to (the download is
checked and audited as theirs) and when it expires; nothing personal. It is no session: whoever
holds the link downloads the file until it expires, so it lives only minutes.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

LINK_SECONDS = 5 * 60
PATH = "/files/"
_PAYLOAD = struct.Struct(">BIIQ")  # version, document id, counsellor id, expiry (Unix seconds)
_VERSION = 1
_MAC_BYTES = 32


class LinkRefused(Exception):
    """The token is forged, malformed or expired; the message says which, for the response."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class FileLink:
    document_id: int
    counsellor_id: int
    expires_at: datetime


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class FileLinks:
    def __init__(self, secret: bytes, seconds: int = LINK_SECONDS) -> None:
        self._secret = secret
        self._seconds = seconds

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()

    def url(self, document_id: int, counsellor_id: int, now: datetime) -> str:
        """The path of a link to the document for that counsellor, valid from `now` for a few minutes."""
        expires = int((now + timedelta(seconds=self._seconds)).timestamp())
        payload = _PAYLOAD.pack(_VERSION, document_id, counsellor_id, expires)
        return PATH + _b64(payload + self._mac(payload))

    def read(self, token: str, now: datetime) -> FileLink:
        """What a token links to; LinkRefused (404 forged or malformed, 403 expired) otherwise."""
        try:
            raw = _unb64(token)
        except (ValueError, binascii.Error) as exc:
            raise LinkRefused("This download link is not valid.", 404) from exc
        payload, mac = raw[: _PAYLOAD.size], raw[_PAYLOAD.size :]
        if len(raw) != _PAYLOAD.size + _MAC_BYTES or not hmac.compare_digest(mac, self._mac(payload)):
            raise LinkRefused("This download link is not valid.", 404)
        version, document_id, counsellor_id, expires = _PAYLOAD.unpack(payload)
        if version != _VERSION:
            raise LinkRefused("This download link is not valid.", 404)
        expires_at = datetime.fromtimestamp(expires, UTC)
        if expires_at <= now:
            raise LinkRefused("This download link has expired; ask for a new one.", 403)
        return FileLink(document_id, counsellor_id, expires_at)
