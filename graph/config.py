"""Settings from the environment; every one is documented in the README."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

from sqlalchemy.engine import make_url

from domain.limits import Limits
from graph.hardening import ApiLimits
from persistence.crypto import data_key
from persistence.migrate import DEFAULT_DATABASE_URL


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


def _secret_key(data_dir: Path) -> str:
    """STAMM_SECRET_KEY, or a key generated once into the data folder (embedded default)."""
    if key := os.environ.get("STAMM_SECRET_KEY"):
        return key
    path = data_dir / "secret.key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


def bus_channel_for(database_url: str) -> str:
    """The event channel of the deployment on this database: one deployment, one channel."""
    database = make_url(database_url).render_as_string(hide_password=True)
    return "stamm." + hashlib.sha256(database.encode()).hexdigest()[:16]


def _limits() -> Limits:
    """Abuse limits from STAMM_LIMIT_<NAME> (e.g. STAMM_LIMIT_SUBMITS_PER_HOUR), defaults in domain/limits.py."""
    defaults = Limits()
    values = {
        f.name: int(os.environ.get(f"STAMM_LIMIT_{f.name.upper()}", getattr(defaults, f.name)))
        for f in fields(Limits)
    }
    return Limits(**values)


@dataclass(frozen=True)
class Config:
    database_url: str
    broadcast_url: str
    secret_key: str
    token_ttl_seconds: int
    admin_email: str | None
    admin_password: str | None
    demo: bool
    migrate: bool
    host: str
    port: int
    sweep_seconds: float
    allowed_origins: tuple[str, ...]
    timer_seconds: float = 1.0
    # 32 bytes for AES-GCM of request texts; from_env reads STAMM_DATA_KEY or the generated key file.
    data_key: bytes = b""
    limits: Limits = field(default_factory=Limits)
    api: ApiLimits = field(default_factory=ApiLimits)
    # Empty: derived from the database (bus_channel_for), so deployments sharing a Redis stay apart.
    bus_channel: str = ""

    @classmethod
    def from_env(cls) -> Config:
        """The settings of this process; several processes (a redis:// bus) must share their keys."""
        if os.environ.get("BROADCAST_URL", "").startswith(("redis://", "rediss://")):
            missing = [name for name in ("STAMM_SECRET_KEY", "STAMM_DATA_KEY") if not os.environ.get(name)]
            if missing:
                raise SystemExit(
                    f"{' and '.join(missing)} must be set when several processes share a bus: "
                    "each would otherwise generate its own key"
                )
        return cls._read_env()

    @classmethod
    def _read_env(cls) -> Config:
        data_dir = Path(os.environ.get("STAMM_DATA_DIR", "data"))
        origins = os.environ.get("STAMM_ALLOWED_ORIGINS", "")
        database_url = os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
        return cls(
            database_url=database_url,
            broadcast_url=os.environ.get("BROADCAST_URL", "memory://"),
            secret_key=_secret_key(data_dir),
            token_ttl_seconds=int(os.environ.get("STAMM_TOKEN_TTL_SECONDS", str(8 * 3600))),
            admin_email=os.environ.get("STAMM_ADMIN_EMAIL") or None,
            admin_password=os.environ.get("STAMM_ADMIN_PASSWORD") or None,
            demo=_flag("STAMM_DEMO", True),
            migrate=_flag("STAMM_MIGRATE", True),
            host=os.environ.get("HOST", "127.0.0.1"),
            port=int(os.environ.get("PORT", "8000")),
            sweep_seconds=float(os.environ.get("STAMM_SWEEP_SECONDS", "30")),
            allowed_origins=tuple(o.strip() for o in origins.split(",") if o.strip()),
            timer_seconds=float(os.environ.get("STAMM_TIMER_SECONDS", "1")),
            data_key=data_key(data_dir),
            limits=_limits(),
            api=ApiLimits.from_env(),
            bus_channel=os.environ.get("STAMM_BUS_CHANNEL", ""),
        )
