"""Request texts encrypted at rest with AES-GCM (the key: STAMM_DATA_KEY or a generated key file)."""

from __future__ import annotations

import base64
import math
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1:"
NONCE_BYTES = 12
TAG_BYTES = 16  # AES-GCM appends a 16-byte authentication tag
UTF8_MAX_BYTES = 4  # the most bytes UTF-8 spends on one character (code point)


def stored_length(characters: int) -> int:
    """The longest stored form of a text of at most `characters` characters: every character
    4 bytes in UTF-8, plus nonce and tag, in base64, after the prefix."""
    sealed = NONCE_BYTES + UTF8_MAX_BYTES * characters + TAG_BYTES
    return len(PREFIX) + 4 * math.ceil(sealed / 3)


class TextCipher:
    """Encrypts texts as 'v1:' + base64(nonce + ciphertext); text without the prefix is read as is
    (rows written before encryption was introduced)."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("STAMM_DATA_KEY must be 32 bytes, base64-encoded")
        self._aes = AESGCM(key)

    def encrypt(self, text: str | None) -> str | None:
        if text is None:
            return None
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._aes.encrypt(nonce, text.encode(), None)
        return PREFIX + base64.b64encode(nonce + sealed).decode()

    def decrypt(self, stored: str | None) -> str | None:
        if stored is None or not stored.startswith(PREFIX):
            return stored
        raw = base64.b64decode(stored[len(PREFIX) :])
        try:
            return self._aes.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode()
        except InvalidTag as exc:
            raise ValueError("a request text does not decrypt with STAMM_DATA_KEY") from exc
