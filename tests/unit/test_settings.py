"""The settings class: one parse for every variable, the same flag spellings everywhere, a one-line
refusal naming a bad variable, secrets kept out of reprs, the README table in step with the class,
and a start banner that only advertises GraphiQL when it is served."""

from __future__ import annotations

import base64
import dataclasses
from pathlib import Path

import pytest
from pydantic import SecretStr

from bootstrap.config import Config
from bootstrap.settings import Settings, load_settings, variable
from bootstrap.settings_table import README, table, with_table
from bootstrap.wiring import banner
from domain.limits import Limits
from graph.hardening import ApiLimits

VARIABLES = [variable(name) for name in Settings.model_fields]
FLAGS = [variable(n) for n, f in Settings.model_fields.items() if f.annotation is bool]
DATA_KEY = base64.b64encode(b"d" * 32).decode()


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: none of the runner's STAMM_* variables, keys generated into tmp_path."""
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STAMM_DATA_DIR", str(tmp_path))


def refusal(capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as stopped:
        load_settings()
    assert stopped.value.code not in (0, None)
    return str(stopped.value.code)


def test_defaults_start_empty_with_introspection_on() -> None:
    settings = load_settings()
    assert settings.demo is False
    assert settings.introspection is True
    assert settings.migrate is True
    assert settings.limits() == Limits()
    assert settings.api_limits() == ApiLimits()


@pytest.mark.parametrize("name", FLAGS)
@pytest.mark.parametrize(
    ("spelling", "expected"),
    [
        ("1", True),
        ("true", True),
        ("Yes", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("OFF", False),
    ],
)
def test_every_flag_takes_the_same_spellings(
    monkeypatch: pytest.MonkeyPatch, name: str, spelling: str, expected: bool
) -> None:
    monkeypatch.setenv(name, spelling)
    field = next(f for f in Settings.model_fields if variable(f) == name)
    assert getattr(load_settings(), field) is expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("STAMM_TOKEN_TTL_SECONDS", "eight hours"),
        ("STAMM_TOKEN_TTL_SECONDS", "0"),
        ("PORT", "70000"),
        ("STAMM_DEMO", "maybe"),
        ("STAMM_SWEEP_SECONDS", "-1"),
        ("STAMM_LIMIT_SUBMITS_PER_HOUR", "many"),
        ("STAMM_DATA_KEY", "c2hvcnQ="),
        ("DATABASE_URL", "postgresql+asyncpg://stamm:pw-123@db:notaport/stamm"),
        ("DATABASE_URL", "stamm:pw-123@db/stamm"),
        ("DATABASE_URL", "postgresql+nodriver://stamm:pw-123@db/stamm"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    message = refusal(capsys)
    assert "\n" not in message
    assert name in message
    assert f"'{value}'" not in message  # values are not echoed: some are secrets
    assert "input_value" not in message


def test_an_empty_variable_counts_as_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    """Compose passes `${STAMM_ADMIN_EMAIL:-}` through as an empty string when nobody set it."""
    for name in (
        "STAMM_ADMIN_EMAIL",
        "STAMM_ADMIN_PASSWORD",
        "STAMM_INTROSPECTION",
        "STAMM_TOKEN_TTL_SECONDS",
    ):
        monkeypatch.setenv(name, "")
    settings = load_settings()
    assert settings.admin_email is None
    assert settings.admin_password is None
    assert settings.introspection is True
    assert settings.token_ttl_seconds == 8 * 3600


def test_a_shared_bus_needs_both_keys(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BROADCAST_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("STAMM_SECRET_KEY", "s" * 40)
    message = refusal(capsys)
    assert "STAMM_DATA_KEY" in message
    assert "STAMM_SECRET_KEY" not in message
    monkeypatch.setenv("STAMM_DATA_KEY", DATA_KEY)
    assert load_settings().broadcast_url.get_secret_value().startswith("redis://")


def test_secrets_stay_out_of_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {
        "STAMM_SECRET_KEY": "token-signing-secret-123",
        "STAMM_ADMIN_PASSWORD": "admin-password-456",
        "DATABASE_URL": "postgresql+asyncpg://stamm:db-password-789@db/stamm",
        "STAMM_DATA_KEY": DATA_KEY,
    }
    for name, value in secrets.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    config = Config.from_settings(settings)
    for shown in (repr(settings), str(settings), repr(config)):
        for value in secrets.values():
            assert value not in shown
    assert isinstance(settings.secret_key, SecretStr)
    assert config.secret_key == secrets["STAMM_SECRET_KEY"]
    assert config.data_key == b"d" * 32


def test_origins_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STAMM_ALLOWED_ORIGINS", "https://a.example, https://b.example,")
    assert load_settings().allowed_origins == ("https://a.example", "https://b.example")


def test_generated_keys_are_kept_for_the_next_start(tmp_path: Path) -> None:
    first, second = Config.from_env(), Config.from_env()
    assert first.secret_key == second.secret_key
    assert first.data_key == second.data_key
    assert len(first.data_key) == 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_every_limit_has_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """A limit added to domain/limits.py or graph/hardening.py without a variable fails here."""
    for field in dataclasses.fields(Limits):
        monkeypatch.setenv(f"STAMM_LIMIT_{field.name.upper()}", "7")
    for field in dataclasses.fields(ApiLimits):
        if field.type in ("int", "float"):
            monkeypatch.setenv(f"STAMM_{field.name.upper()}", "7")
    settings = load_settings()
    assert settings.limits() == Limits(**{f.name: 7 for f in dataclasses.fields(Limits)})
    assert all(
        getattr(settings.api_limits(), f.name) == 7 for f in dataclasses.fields(ApiLimits) if f.type != "bool"
    )


def test_every_setting_is_documented_and_the_readme_table_is_the_generated_one() -> None:
    assert all(field.description for field in Settings.model_fields.values())
    readme = README.read_text()
    assert with_table(readme) == readme, "README.md's settings table drifted: run `make settings-table`"
    assert all(f"| `{name}` |" in table() for name in VARIABLES)


def _config(introspection: bool) -> Config:
    return dataclasses.replace(Config.from_env(), api=ApiLimits(introspection=introspection))


def test_the_banner_advertises_graphiql_only_when_it_is_served() -> None:
    assert "GraphiQL: http://127.0.0.1:8000/graphql" in banner(_config(introspection=True))
    closed = banner(_config(introspection=False))
    assert "http://127.0.0.1:8000/graphql" in closed
    assert "GraphiQL and introspection are off" in closed
    assert "STAMM_INTROSPECTION=1" in closed
