"""Passwords (argon2) and signed, expiring session tokens (JWT)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import jwt
from argon2 import PasswordHasher as Argon2
from argon2.exceptions import InvalidHashError, VerificationError

from domain.errors import Unauthenticated
from domain.model import Role, SessionClaims, Viewer

ALGORITHM = "HS256"


class Argon2Hasher:
    """argon2id with the library's defaults."""

    def __init__(self) -> None:
        self._argon2 = Argon2()

    def hash(self, password: str) -> str:
        return self._argon2.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        try:
            return self._argon2.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False


class TokenSigner:
    def __init__(self, secret_key: str, ttl_seconds: int) -> None:
        self._key = secret_key
        self._ttl = ttl_seconds

    def issue(self, viewer: Viewer) -> tuple[str, datetime]:
        """A token for the account behind `viewer`, and when it expires.

        Uses the system clock, as PyJWT does when it checks the expiry.
        """
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self._ttl)
        account = viewer.counsellor_id if viewer.counsellor_id is not None else viewer.client_id
        kind = "client" if viewer.is_client else "counsellor"
        claims = {
            "sub": f"{kind}:{account}",
            "role": viewer.role.value if viewer.role else None,
            "jti": secrets.token_urlsafe(16),
            "iat": int(now.timestamp()),
            "gen": viewer.session_generation,
            "exp": int(expires.timestamp()),
        }
        return jwt.encode(claims, self._key, algorithm=ALGORITHM), expires.replace(microsecond=0)

    def read(self, token: str) -> SessionClaims:
        """The claims of a valid token; UNAUTHENTICATED when forged, malformed or expired."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[ALGORITHM], options={"require": ["exp", "jti", "sub"]}
            )
            kind, _, raw_id = str(claims["sub"]).partition(":")
            role = Role(claims["role"])
            if (kind == "client") != (role is Role.CLIENT):
                raise ValueError("role and subject disagree")
            expires = datetime.fromtimestamp(claims["exp"], UTC)
            return SessionClaims(role, int(raw_id), str(claims["jti"]), expires, int(claims.get("gen", 0)))
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except (jwt.InvalidTokenError, ValueError, KeyError) as exc:
            raise Unauthenticated("The token is not valid.") from exc


def bearer_token(authorization: object) -> str | None:
    """The token of an `Authorization: Bearer …` value; UNAUTHENTICATED for another scheme."""
    if authorization is None or authorization == "":
        return None
    if not isinstance(authorization, str):
        raise Unauthenticated("Authorization must be 'Bearer <token>'.")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Authorization must be 'Bearer <token>'.")
    return token.strip()
