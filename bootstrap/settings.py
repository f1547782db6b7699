"""Every setting of a Stamm process: one typed class read from the environment, and nothing else reads it.

Each field's alias is its environment variable and its description is the README's text (the
table under "## Settings" is generated from this class: `make settings-table`). A value that does
not parse stops the start with one line per variable (`load_settings`), never a traceback.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from domain.limits import Limits
from domain.monitoring import DEFAULT_MIN_CELL
from graph.hardening import ApiLimits
from persistence.migrate import DEFAULT_DATABASE_URL

_LIMITS = Limits()
_API = ApiLimits()


def _setting(default: Any, env: str, description: str, shown: str | None = None, **constraints: Any) -> Any:
    """A field read from `env`; `shown` replaces the default in the README where it is computed."""
    extra: dict[str, Any] | None = {"shown_default": shown} if shown is not None else None
    return Field(
        default,
        validation_alias=AliasChoices(env),
        description=description,
        json_schema_extra=extra,
        **constraints,
    )


class Settings(BaseSettings):
    """The environment of one process. Booleans take 1/0, true/false, yes/no, on/off (any case)."""

    # Empty counts as unset: compose passes `${VAR:-}` through for variables nobody set.
    model_config = SettingsConfigDict(
        env_ignore_empty=True, case_sensitive=True, frozen=True, populate_by_name=True
    )

    database_url: SecretStr = _setting(
        SecretStr(DEFAULT_DATABASE_URL),
        "DATABASE_URL",
        "the database; `postgresql+asyncpg://user:pass@host/db` in production",
        f"`{DEFAULT_DATABASE_URL}`",
    )
    broadcast_url: SecretStr = _setting(
        SecretStr("memory://"),
        "BROADCAST_URL",
        "the event bus; `redis://host:6379/0` when several processes serve",
        "`memory://`",
    )
    bus_channel: str = _setting(
        "",
        "STAMM_BUS_CHANNEL",
        "the Redis pub/sub channel of this deployment (Redis ignores the database number, so "
        "deployments sharing a Redis need their own)",
        "derived from `DATABASE_URL`",
    )
    host: str = _setting("127.0.0.1", "HOST", "the address the API listens on")
    port: int = _setting(
        8000,
        "PORT",
        "its port",
        ge=1,
        le=65535,
    )
    secret_key: SecretStr | None = _setting(
        None,
        "STAMM_SECRET_KEY",
        "signs session tokens; set it (the same on every process) in production",
        "generated into `data/secret.key`",
    )
    token_ttl_seconds: int = _setting(
        8 * 3600,
        "STAMM_TOKEN_TTL_SECONDS",
        "how long a session token lives (8 hours)",
        gt=0,
    )
    admin_email: str | None = _setting(
        None,
        "STAMM_ADMIN_EMAIL",
        "with `STAMM_ADMIN_PASSWORD`: creates this admin at start when missing (offline, no chats, "
        "mail NONE, like every new counsellor); a start without any staff account says so",
    )
    admin_password: SecretStr | None = _setting(None, "STAMM_ADMIN_PASSWORD", "that admin's password")
    demo: bool = _setting(
        False,
        "STAMM_DEMO",
        "`1` seeds the demo data into a new, empty database and prints the logins (`make run` "
        "sets it); never in production: the demo passwords are public",
    )
    migrate: bool = _setting(
        True,
        "STAMM_MIGRATE",
        "`1` migrates the database at start; `0` leaves that to `python -m bootstrap.migrate`",
    )
    data_dir: Path = _setting(Path("data"), "STAMM_DATA_DIR", "where generated keys live")
    sweep_seconds: float = _setting(
        30.0,
        "STAMM_SWEEP_SECONDS",
        "how often each process offers queued requests again, whether or not an event told it to",
        gt=0,
    )
    timer_seconds: float = _setting(
        1.0,
        "STAMM_TIMER_SECONDS",
        "how often each process checks presence lapses and accept timeouts (wait ends wake it on time)",
        gt=0,
    )
    allowed_origins: Annotated[tuple[str, ...], NoDecode] = _setting(
        (),
        "STAMM_ALLOWED_ORIGINS",
        "comma-separated origins whose pages may use the API from a browser (CORS and websocket), "
        "e.g. a service's site embedding the chat widget",
        "empty",
    )
    data_key: SecretStr | None = _setting(
        None,
        "STAMM_DATA_KEY",
        "base64 of 32 bytes: encrypts request subjects and messages at rest (AES-GCM); the same "
        "on every process, and kept safe: without it the texts are lost",
        "generated into `data/data.key`",
    )
    introspection: bool = _setting(
        _API.introspection,
        "STAMM_INTROSPECTION",
        "schema introspection and the GraphiQL page; `0` turns both off (do that in production)",
    )
    max_depth: int = _setting(
        _API.max_depth,
        "STAMM_MAX_DEPTH",
        "how deep one GraphQL document may nest",
        gt=0,
    )
    max_tokens: int = _setting(
        _API.max_tokens,
        "STAMM_MAX_TOKENS",
        "how many tokens one GraphQL document may have",
        gt=0,
    )
    max_aliases: int = _setting(
        _API.max_aliases,
        "STAMM_MAX_ALIASES",
        "how many aliases one GraphQL document may use",
        gt=0,
    )
    max_body_bytes: int = _setting(
        _API.max_body_bytes,
        "STAMM_MAX_BODY_BYTES",
        "larger request bodies get 413",
        gt=0,
    )
    max_upload_bytes: int = _setting(
        _API.max_upload_bytes,
        "STAMM_MAX_UPLOAD_BYTES",
        "the largest document a staff member may upload (10 MiB); only a multipart upload to "
        "`/graphql` with a token may exceed `STAMM_MAX_BODY_BYTES`, by this much",
        gt=0,
    )
    blob_dir: Path | None = _setting(
        None,
        "STAMM_BLOB_DIR",
        "the folder of document files (encrypted with `STAMM_DATA_KEY`) when no S3 bucket is set",
        "`data/documents`",
    )
    s3_bucket: str | None = _setting(
        None,
        "STAMM_S3_BUCKET",
        "stores document files in this S3-compatible bucket instead of a folder (several "
        "processes need a shared store)",
    )
    s3_endpoint_url: str | None = _setting(
        None,
        "STAMM_S3_ENDPOINT_URL",
        "the S3 API's URL for a store other than AWS (MinIO, Ceph, a cloud's S3 service)",
        "AWS",
    )
    s3_region: str | None = _setting(None, "STAMM_S3_REGION", "the bucket's region")
    s3_access_key_id: str | None = _setting(
        None,
        "STAMM_S3_ACCESS_KEY_ID",
        "with `STAMM_S3_SECRET_ACCESS_KEY`: the store's credentials; unset: the standard AWS "
        "chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, a profile, an instance role)",
    )
    s3_secret_access_key: SecretStr | None = _setting(
        None, "STAMM_S3_SECRET_ACCESS_KEY", "the secret of that key"
    )
    ws_init_timeout_seconds: float = _setting(
        _API.ws_init_timeout_seconds,
        "STAMM_WS_INIT_TIMEOUT_SECONDS",
        "websocket: time to send `connection_init`",
        gt=0,
    )
    ws_max_subscriptions: int = _setting(
        _API.ws_max_subscriptions,
        "STAMM_WS_MAX_SUBSCRIPTIONS",
        "websocket: subscriptions per connection",
        gt=0,
    )
    limit_login_failures_per_account: int = _setting(
        _LIMITS.login_failures_per_account,
        "STAMM_LIMIT_LOGIN_FAILURES_PER_ACCOUNT",
        "failed sign-ins per e-mail within the window before sign-in is refused (`RATE_LIMITED`)",
        gt=0,
    )
    limit_login_failures_per_address: int = _setting(
        _LIMITS.login_failures_per_address,
        "STAMM_LIMIT_LOGIN_FAILURES_PER_ADDRESS",
        "failed sign-ins per address within the window before sign-in is refused",
        gt=0,
    )
    limit_login_window_seconds: int = _setting(
        _LIMITS.login_window_seconds,
        "STAMM_LIMIT_LOGIN_WINDOW_SECONDS",
        "the window of those two limits",
        gt=0,
    )
    limit_submits_per_hour: int = _setting(
        _LIMITS.submits_per_hour,
        "STAMM_LIMIT_SUBMITS_PER_HOUR",
        "a client's requests per hour",
        gt=0,
    )
    limit_open_requests_per_client: int = _setting(
        _LIMITS.open_requests_per_client,
        "STAMM_LIMIT_OPEN_REQUESTS_PER_CLIENT",
        "a client's open (queued or assigned) requests at once",
        gt=0,
    )
    limit_registrations_per_address_per_hour: int = _setting(
        _LIMITS.registrations_per_address_per_hour,
        "STAMM_LIMIT_REGISTRATIONS_PER_ADDRESS_PER_HOUR",
        "self-registrations per address and hour",
        gt=0,
    )
    monitoring_min_cell: int = _setting(
        DEFAULT_MIN_CELL,
        "STAMM_MONITORING_MIN_CELL",
        "monitoring statistics withhold a cell of fewer contacts or clients than this (so no person "
        "can be singled out)",
        ge=2,
    )
    smtp_url: SecretStr | None = _setting(
        None,
        "STAMM_SMTP_URL",
        "the mail server: `smtp://user:pass@host:587` (`smtps://` for TLS from the start); unset: mails "
        "are written as .eml files under `data/outbox/` and logged without content",
        "unset",
    )
    smtp_starttls: bool | None = _setting(
        None,
        "STAMM_SMTP_STARTTLS",
        "`1` requires STARTTLS on an `smtp://` server, `0` never uses it; unset: when the server offers it",
        "unset",
    )
    mail_from: str = _setting(
        "Stamm <noreply@localhost>", "STAMM_MAIL_FROM", "the sender of invitation mails"
    )
    public_url: str = _setting(
        "http://127.0.0.1:8000",
        "STAMM_PUBLIC_URL",
        "the address the invitation links start with (`<url>/invitation?token=...`)",
    )
    mail_seconds: float = _setting(
        2.0, "STAMM_MAIL_SECONDS", "how often each process sends due mails from the outbox", gt=0
    )
    deletion_grace_days: int = _setting(
        30,
        "STAMM_DELETION_GRACE_DAYS",
        "days a deleted client can be restored before the sweep erases their personal data",
        ge=0,
    )

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(origin.strip() for origin in value.split(",") if origin.strip())
        return value

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, value: SecretStr) -> SecretStr:
        # Checked here, not first in create_engines: a typo stops the start with one line, not a traceback.
        try:
            make_url(value.get_secret_value()).get_dialect()
        except (ArgumentError, ValueError):  # unparsable, a bad port, or no such driver
            raise ValueError(
                "is not a database URL with an installed driver "
                "(sqlite+aiosqlite:///path or postgresql+asyncpg://user:pass@host/db)"
            ) from None
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parts = urlsplit(value.get_secret_value())
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError("must look like smtp://user:pass@host:port")
        return value

    @field_validator("data_key")
    @classmethod
    def _thirty_two_bytes(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(_base64(value.get_secret_value())) != 32:
            raise ValueError("must be base64 of 32 bytes (openssl rand -base64 32)")
        return value

    @model_validator(mode="after")
    def _shared_keys_with_a_shared_bus(self) -> Settings:
        """Several processes on one bus must share their keys: each would otherwise generate its own."""
        if self.broadcast_url.get_secret_value().startswith(("redis://", "rediss://")):
            missing = [
                name
                for name, value in (("STAMM_SECRET_KEY", self.secret_key), ("STAMM_DATA_KEY", self.data_key))
                if value is None
            ]
            if missing:
                raise ValueError(
                    f"{' and '.join(missing)} must be set when several processes share a bus "
                    "(BROADCAST_URL redis://): each would otherwise generate its own key"
                )
        return self

    def limits(self) -> Limits:
        prefix = "limit_"
        values = {
            name[len(prefix) :]: getattr(self, name)
            for name in type(self).model_fields
            if name.startswith(prefix)
        }
        return Limits(**values)

    def api_limits(self) -> ApiLimits:
        return ApiLimits(
            max_depth=self.max_depth,
            max_tokens=self.max_tokens,
            max_aliases=self.max_aliases,
            max_body_bytes=self.max_body_bytes,
            max_upload_bytes=self.max_upload_bytes,
            introspection=self.introspection,
            ws_init_timeout_seconds=self.ws_init_timeout_seconds,
            ws_max_subscriptions=self.ws_max_subscriptions,
        )


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error:
        return b""


def variable(field_name: str) -> str:
    """The environment variable of a Settings field."""
    alias = Settings.model_fields[field_name].validation_alias
    assert isinstance(alias, AliasChoices)
    name = alias.choices[0]
    assert isinstance(name, str)
    return name


def load_settings() -> Settings:
    """The settings of this process; SystemExit with one line per bad variable (values not shown:
    some are secrets)."""
    try:
        return Settings()
    except ValidationError as error:
        raise SystemExit("\n".join(_problem(e) for e in error.errors())) from None


def _problem(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    location = error.get("loc") or ()
    if not location:  # a rule across several variables names them in its message
        return f"Stamm cannot start: {message}"
    return f"Stamm cannot start: {location[0]}: {message}"
