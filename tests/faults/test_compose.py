"""The deployment as docker-compose.yml describes it, checked without Docker; health checks in process.

The compose file has to agree with the code: every variable it sets is a setting the README
documents and the product code reads by name (a misspelt STAMM_* would be ignored silently),
and the health checks it relies on answer on a healthy app.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from bootstrap.settings import Settings, variable
from tests.e2e.support import LiveServer, free_port, start_server, stop_server
from tests.faults.support import app_config

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
# The services the API's settings are handed to.
APP_SERVICES = ("migrate", "api")
ENV_EXAMPLE = ROOT / ".env.example"
# The one place settings are read.
SETTINGS = {variable(name) for name in Settings.model_fields}
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, ${NAME?error}: compose's interpolation.
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+])?[^}]*\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())  # resolves the x-settings anchors and `<<` merges
    assert isinstance(loaded, dict)
    return loaded


def _services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    services = compose.get("services")
    assert isinstance(services, dict), "docker-compose.yml has no services"
    return services


def _environment(service: dict[str, Any]) -> dict[str, str | None]:
    """A service's environment, from either the mapping or the KEY=VALUE list form."""
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = (item.split("=", 1) if "=" in item else (item, None) for item in environment)
        return {name: value for name, value in pairs}
    return {str(name): None if value is None else str(value) for name, value in environment.items()}


def _readme_settings() -> set[str]:
    """The variables in the first table under README.md's `## Settings` heading."""
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Settings\s*$(.*?)(?=^## |\Z)", text, flags=re.MULTILINE | re.DOTALL)
    assert match, "README.md has no '## Settings' section"
    table: list[str] = []
    for line in match.group(1).splitlines():
        if line.startswith("|"):
            table.append(line)
        elif table:
            break  # the first table ends (the test suite's own variables follow in another)
    names: set[str] = set()
    for row in table[2:]:  # header and separator first
        first_cell = row.split("|")[1]
        names.update(re.findall(r"`([A-Z][A-Z0-9_]*)`", first_cell))
    return names


def test_compose_has_the_four_services(compose: dict[str, Any]) -> None:
    assert {"postgres", "redis", "migrate", "api"} <= set(_services(compose))


@pytest.mark.parametrize("name", ["postgres", "redis", "api"])
def test_long_running_services_have_a_healthcheck(compose: dict[str, Any], name: str) -> None:
    healthcheck = _services(compose)[name].get("healthcheck")
    assert isinstance(healthcheck, dict), f"{name} has no healthcheck"
    assert healthcheck.get("test"), f"{name}'s healthcheck has no test"
    assert not healthcheck.get("disable", False)


def test_api_starts_after_a_successful_migration_in_two_replicas(compose: dict[str, Any]) -> None:
    api = _services(compose)["api"]
    depends_on = api.get("depends_on")
    assert isinstance(depends_on, dict), "api's depends_on needs conditions, not a plain list"
    assert depends_on["migrate"]["condition"] == "service_completed_successfully"
    for backing in ("postgres", "redis"):
        assert depends_on[backing]["condition"] == "service_healthy"
    assert api.get("deploy", {}).get("replicas") == 2
    assert _environment(api).get("STAMM_MIGRATE") == "0"  # the replicas do not race to migrate


def test_replicas_share_state_through_postgres_and_redis(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        environment = _environment(_services(compose)[name])
        assert (environment.get("DATABASE_URL") or "").startswith("postgresql+asyncpg://"), name
        assert (environment.get("BROADCAST_URL") or "").startswith("redis://"), name


def test_api_healthcheck_asks_the_port_it_listens_on(compose: dict[str, Any]) -> None:
    api = _services(compose)["api"]
    port = _environment(api).get("PORT") or "8000"
    command = " ".join(map(str, api["healthcheck"]["test"]))
    assert f":{port}/healthz" in command or f":{port}/readyz" in command, command


def test_readme_settings_table_is_found() -> None:
    settings = _readme_settings()
    assert {"DATABASE_URL", "BROADCAST_URL", "HOST", "PORT", "STAMM_SECRET_KEY"} <= settings
    assert not any(name.startswith("TEST_") for name in settings)


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_variable_compose_sets_is_a_documented_setting_the_code_reads(
    compose: dict[str, Any], service: str
) -> None:
    environment = _environment(_services(compose)[service])
    assert environment, f"{service} sets no environment"
    undocumented = sorted(set(environment) - _readme_settings())
    unread = sorted(set(environment) - SETTINGS)
    assert not undocumented, f"{service} sets variables the README's settings table lacks: {undocumented}"
    assert not unread, f"{service} sets variables the settings class does not read: {unread}"


@pytest.mark.parametrize("service", APP_SERVICES)
def test_every_command_runs_a_module_that_exists(compose: dict[str, Any], service: str) -> None:
    command = _services(compose)[service]["command"]
    assert command[:2] == ["python", "-m"], command
    assert importlib.util.find_spec(command[2]) is not None, f"{service} runs a missing module {command[2]}"


def _interpolations(node: object) -> list[tuple[str, str]]:
    """(name, operator) of every ${...} in the file's values (YAML drops the comments)."""
    if isinstance(node, dict):
        return [
            found for key, value in node.items() for found in _interpolations(key) + _interpolations(value)
        ]
    if isinstance(node, list):
        return [found for item in node for found in _interpolations(item)]
    return INTERPOLATION.findall(node) if isinstance(node, str) else []


def test_down_and_logs_need_no_secret(compose: dict[str, Any]) -> None:
    """Compose interpolates the whole file for every command: a required variable (`${X:?...}`) would
    make `down` and `logs` fail too. The settings class refuses a start without the keys instead."""
    found = _interpolations(compose)
    assert found, "docker-compose.yml interpolates nothing"
    required = sorted(name for name, operator in found if "?" in operator)
    without_default = sorted(name for name, operator in found if operator not in (":-", "-"))
    assert not required, f"required at every command: {required}"
    assert not without_default, f"no default, so unset means a warning at every command: {without_default}"


def _env_example() -> dict[str, str]:
    lines = (line.strip() for line in ENV_EXAMPLE.read_text().splitlines())
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {name: value for name, value in pairs}


def test_env_example_names_every_variable_compose_takes_from_outside(compose: dict[str, Any]) -> None:
    interpolated = {name for name, _ in _interpolations(compose)}
    example = _env_example()
    assert set(example) == interpolated
    assert set(example) <= SETTINGS
    # The keys are for each deployment to generate: an example value would end up in production.
    assert example["STAMM_SECRET_KEY"] == example["STAMM_DATA_KEY"] == ""
    assert example["STAMM_INTROSPECTION"] == "0"


def test_the_filled_in_env_file_stays_out_of_git_and_the_image() -> None:
    for ignore in (".gitignore", ".dockerignore"):
        assert ".env" in (ROOT / ignore).read_text().splitlines(), ignore


def test_the_stack_starts_empty_and_without_graphiql(compose: dict[str, Any]) -> None:
    for name in APP_SERVICES:
        environment = _environment(_services(compose)[name])
        assert environment.get("STAMM_DEMO") in (None, "0"), name
        assert environment.get("STAMM_INTROSPECTION") == "${STAMM_INTROSPECTION:-0}", name


# Health checks on a healthy app ----------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    folder = tmp_path_factory.mktemp("compose")
    port = free_port()
    live = start_server(
        app_config(f"sqlite+aiosqlite:///{folder / 'stamm.db'}", "memory://", port, folder), port
    )
    try:
        yield live
    finally:
        stop_server(live)


async def test_healthz_says_ok(healthy_app: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{healthy_app.base_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_is_ready_with_database_and_bus_up(healthy_app: LiveServer) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{healthy_app.base_url}/readyz")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
