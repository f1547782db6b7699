"""What the composition root builds the app from: the settings with generated keys read and limits grouped."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import make_url

from bootstrap.settings import Settings, load_settings
from domain.limits import Limits
from domain.monitoring import DEFAULT_MIN_CELL
from graph.hardening import ApiLimits


@dataclass(frozen=True)
class S3Store:
    """An S3-compatible bucket for document files; no credentials: botocore's standard chain."""

    bucket: str
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Config:
    """One process's configuration; tests build it by hand or replace fields of `from_env()`.

    The secrets are plain values here (the code hands them to libraries) and kept out of the repr.
    """

    database_url: str = field(repr=False)
    broadcast_url: str = field(repr=False)
    secret_key: str = field(repr=False)
    token_ttl_seconds: int
    admin_email: str | None
    admin_password: str | None = field(repr=False)
    demo: bool
    migrate: bool
    host: str
    port: int
    sweep_seconds: float
    allowed_origins: tuple[str, ...]
    timer_seconds: float = 1.0
    # 32 bytes for AES-GCM of request texts; empty: a key for this run only (tests).
    data_key: bytes = field(default=b"", repr=False)
    limits: Limits = field(default_factory=Limits)
    api: ApiLimits = field(default_factory=ApiLimits)
    # Empty: derived from the database (bus_channel_for), so deployments sharing a Redis stay apart.
    bus_channel: str = ""
    # Monitoring statistics withhold smaller cells.
    monitoring_min_cell: int = DEFAULT_MIN_CELL
    # Where document files go: this folder, unless an S3 bucket is named (bootstrap/wiring.py).
    blob_dir: Path = Path("data/documents")
    s3: S3Store | None = None
    # Member management: mail (no SMTP URL: .eml files under data_dir/outbox), links, deletions.
    smtp_url: str | None = field(default=None, repr=False)
    smtp_starttls: bool | None = None
    mail_from: str = "Stamm <noreply@localhost>"
    public_url: str = "http://127.0.0.1:8000"
    mail_seconds: float = 2.0
    deletion_grace_days: int = 30
    data_dir: Path = Path("data")

    @classmethod
    def from_env(cls) -> Config:
        """This process's configuration (SystemExit naming the variable when one is bad)."""
        return cls.from_settings(load_settings())

    @classmethod
    def from_settings(cls, settings: Settings) -> Config:
        secret_key = settings.secret_key.get_secret_value() if settings.secret_key else None
        data_key = settings.data_key.get_secret_value() if settings.data_key else None
        password = settings.admin_password
        return cls(
            database_url=settings.database_url.get_secret_value(),
            broadcast_url=settings.broadcast_url.get_secret_value(),
            secret_key=secret_key or _generated_key(settings.data_dir / "secret.key", _token),
            token_ttl_seconds=settings.token_ttl_seconds,
            admin_email=settings.admin_email,
            admin_password=password.get_secret_value() if password else None,
            demo=settings.demo,
            migrate=settings.migrate,
            host=settings.host,
            port=settings.port,
            sweep_seconds=settings.sweep_seconds,
            allowed_origins=settings.allowed_origins,
            timer_seconds=settings.timer_seconds,
            data_key=base64.b64decode(data_key or _generated_key(settings.data_dir / "data.key", _aes_key)),
            limits=settings.limits(),
            api=settings.api_limits(),
            bus_channel=settings.bus_channel,
            monitoring_min_cell=settings.monitoring_min_cell,
            blob_dir=settings.blob_dir or settings.data_dir / "documents",
            s3=_s3(settings),
            smtp_url=settings.smtp_url.get_secret_value() if settings.smtp_url else None,
            smtp_starttls=settings.smtp_starttls,
            mail_from=settings.mail_from,
            public_url=settings.public_url,
            mail_seconds=settings.mail_seconds,
            deletion_grace_days=settings.deletion_grace_days,
            data_dir=settings.data_dir,
        )

    def event_channel(self) -> str:
        return self.bus_channel or bus_channel_for(self.database_url)


def _s3(settings: Settings) -> S3Store | None:
    if not settings.s3_bucket:
        return None
    secret = settings.s3_secret_access_key
    return S3Store(
        settings.s3_bucket,
        settings.s3_endpoint_url,
        settings.s3_region,
        settings.s3_access_key_id,
        secret.get_secret_value() if secret else None,
    )


def bus_channel_for(database_url: str) -> str:
    """The event channel of the deployment on this database: one deployment, one channel."""
    database = make_url(database_url).render_as_string(hide_password=True)
    return "stamm." + hashlib.sha256(database.encode()).hexdigest()[:16]


def _token() -> str:
    return secrets.token_urlsafe(48)


def _aes_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def _generated_key(path: Path, generate: Callable[[], str]) -> str:
    """The key in `path`, generated on first use (the embedded default; a single process only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(generate())
        path.chmod(0o600)
    return path.read_text().strip()
