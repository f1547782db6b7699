"""Migrations: an empty database of each backend migrates to every table, and the models match the migrations.

The drift check is what `alembic check` does: autogenerate's compare of the migrated database with
persistence.tables.metadata must find nothing to change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import insert, inspect, select, text, update
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import create_async_engine

from domain.validation import MAX_SUBJECT
from persistence import tables
from persistence.crypto import stored_length
from persistence.database import Engines, create_engines
from persistence.migrate import alembic_config, migrate
from persistence.tables import metadata
from tests.services import POSTGRES, Backend, require_postgres, unique_name


async def _admin_sql(base_url: str, sql: str) -> None:
    admin = create_async_engine(base_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await admin.dispose()


@pytest.fixture
async def empty_database_url(backend: Backend, tmp_path: Path) -> AsyncIterator[str]:
    """A database nobody has migrated (the shared `database_url` may come migrated from a template)."""
    if backend is not POSTGRES:
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    base = require_postgres()
    name = unique_name("stamm_empty")
    await _admin_sql(base, f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield make_url(base).set(database=name).render_as_string(hide_password=False)
    finally:
        await _admin_sql(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def empty(empty_database_url: str) -> AsyncIterator[Engines]:
    """Engines on a database nobody has migrated yet."""
    found = create_engines(empty_database_url)
    try:
        yield found
    finally:
        await found.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _columns(connection: Connection) -> dict[str, set[str]]:
    inspector = inspect(connection)
    present = set(inspector.get_table_names())  # an older revision lacks later tables
    return {
        name: {c["name"] for c in inspector.get_columns(name)} for name in metadata.tables if name in present
    }


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection,
        opts={
            "compare_type": True,
            "render_as_batch": connection.dialect.name == "sqlite",
            "target_metadata": metadata,
        },
    )
    return list(compare_metadata(context, metadata))


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def _head(engines: Engines) -> str | None:
    url = engines.write.url.render_as_string(hide_password=False)
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


async def test_an_empty_database_has_no_tables_before_migrating(empty: Engines) -> None:
    async with empty.write.connect() as conn:
        assert await conn.run_sync(_tables) == set()


async def test_migrating_an_empty_database_creates_every_table_and_column(empty: Engines) -> None:
    await migrate(empty.write)
    async with empty.write.connect() as conn:
        tables = await conn.run_sync(_tables)
        columns = await conn.run_sync(_columns)
        revision = await conn.run_sync(_revision)
    assert tables == set(metadata.tables) | {"alembic_version"}
    for name, table in metadata.tables.items():
        assert columns[name] == {c.name for c in table.columns}, name
    assert revision is not None and revision == _head(empty)


async def test_the_models_do_not_drift_from_the_migrations(empty: Engines) -> None:
    await migrate(empty.write)
    async with empty.write.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert diff == [], "persistence/tables.py and the migrations disagree; add a migration"


async def test_the_drift_check_would_notice_a_missing_table(empty: Engines) -> None:
    """The comparison above is able to fail: a table the migrations lack shows up in the diff."""
    await migrate(empty.write)
    async with empty.write.begin() as conn:
        await conn.exec_driver_sql("DROP TABLE invitation_outbox")
    async with empty.write.connect() as conn:
        diff = await conn.run_sync(_diff)
    assert [d[0] for d in diff] == ["add_table"]
    assert diff[0][1].name == "invitation_outbox"


async def test_migrating_twice_changes_nothing(empty: Engines) -> None:
    await migrate(empty.write)
    await migrate(empty.write)
    async with empty.write.connect() as conn:
        assert await conn.run_sync(_revision) == _head(empty)
        assert await conn.run_sync(_diff) == []


async def test_downgrading_to_base_and_upgrading_again_round_trips(empty: Engines) -> None:
    await migrate(empty.write)
    url = empty.write.url.render_as_string(hide_password=False)

    def downgrade(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, "base")

    async with empty.write.begin() as conn:
        await conn.run_sync(downgrade)
    async with empty.write.connect() as conn:
        assert await conn.run_sync(_tables) <= {"alembic_version"}
        assert await conn.run_sync(_revision) is None
    await migrate(empty.write)
    async with empty.write.connect() as conn:
        assert await conn.run_sync(_diff) == []


def _upgrade_to(url: str, revision: str) -> Callable[[Connection], None]:
    def upgrade(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


async def test_widening_the_subject_keeps_every_request_and_what_refers_to_it(empty: Engines) -> None:
    """0005 rebuilds `requests` on SQLite (batch mode) while foreign keys are enforced and rows of
    request_handlers point at it: every row and reference survives, and a long subject fits after."""
    url = empty.write.url.render_as_string(hide_password=False)
    async with empty.write.begin() as conn:
        await conn.run_sync(_upgrade_to(url, "0004"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    async with empty.write.begin() as conn:
        counsellor_id = (
            await conn.execute(
                insert(tables.counsellors).values(
                    email="c@example.org",
                    password_hash="x",
                    display_name="C",
                    sort_name="c",
                    role="COUNSELLOR",
                    online_status="OFFLINE",
                    chat_capacity=1,
                    mail_availability="NONE",
                    mail_resources=0,
                    created_at=now,
                )
            )
        ).inserted_primary_key[0]
        client_id = (
            await conn.execute(
                insert(tables.clients).values(
                    client_code="ABC123",
                    display_name="K",
                    sort_name="k",
                    invitation_status="REGISTERED",
                    account_status="ACTIVE",
                    created_at=now,
                )
            )
        ).inserted_primary_key[0]
        request_id = (
            await conn.execute(
                insert(tables.requests).values(
                    client_id=client_id,
                    channel="MAIL",
                    status="ASSIGNED",
                    subject="v1:before",
                    counsellor_id=counsellor_id,
                    created_at=now,
                )
            )
        ).inserted_primary_key[0]
        await conn.execute(
            insert(tables.request_handlers).values(request_id=request_id, counsellor_id=counsellor_id)
        )
    await migrate(empty.write)
    long_subject = "v1:" + "A" * (stored_length(MAX_SUBJECT) - 3)
    async with empty.write.begin() as conn:
        await conn.execute(
            update(tables.requests).where(tables.requests.c.id == request_id).values(subject=long_subject)
        )
    async with empty.write.connect() as conn:
        request = (await conn.execute(select(tables.requests))).one()
        handlers = (await conn.execute(select(tables.request_handlers))).all()
        assert await conn.run_sync(_diff) == []
    assert (request.id, request.client_id, request.counsellor_id) == (request_id, client_id, counsellor_id)
    assert request.subject == long_subject
    assert [tuple(h) for h in handlers] == [(request_id, counsellor_id)]


def _downgrade_to(url: str, revision: str) -> Callable[[Connection], None]:
    def downgrade(connection: Connection) -> None:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    return downgrade


async def test_requests_stored_before_0009_get_the_time_of_their_last_change(empty: Engines) -> None:
    """0009 fills `updated_at` of existing requests (the catch-up reads it); going back to 0005
    keeps every request and what refers to it, also on SQLite."""
    url = empty.write.url.render_as_string(hide_password=False)
    async with empty.write.begin() as conn:
        await conn.run_sync(_upgrade_to(url, "0005"))
    created, assigned, closed = (datetime(2026, 1, 1, hour, tzinfo=UTC) for hour in (9, 10, 11))
    async with empty.write.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO counsellors (id, email, password_hash, display_name, sort_name, role, active,"
                " online_status, chat_capacity, active_chat_count, mail_availability, mail_resources,"
                " open_mail_count, absent, only_own_clients, session_generation, created_at) VALUES"
                " (1, 'c@example.org', 'x', 'C', 'c', 'COUNSELLOR', true, 'OFFLINE', 1, 0, 'NONE', 0, 0,"
                " false, false, 0, :at)"
            ),
            {"at": created},
        )
        await conn.execute(
            text(
                "INSERT INTO clients (id, client_code, display_name, sort_name, invitation_status,"
                " account_status, search_text, session_generation, created_at) VALUES"
                " (1, 'ABC123', 'K', 'k', 'REGISTERED', 'ACTIVE', '', 0, :at)"
            ),
            {"at": created},
        )
        for request_id, status, assigned_at, closed_at in (
            (1, "QUEUED", None, None),
            (2, "ASSIGNED", assigned, None),
            (3, "CLOSED", assigned, closed),
        ):
            await conn.execute(
                text(
                    "INSERT INTO requests (id, client_id, channel, status, counsellor_id, created_at,"
                    " assigned_at, closed_at, excluded_ids, set_primary, trace) VALUES"
                    " (:id, 1, 'CHAT', :status, 1, :created, :assigned, :closed, '[]', false, '[]')"
                ),
                {
                    "id": request_id,
                    "status": status,
                    "created": created,
                    "assigned": assigned_at,
                    "closed": closed_at,
                },
            )
        await conn.execute(
            text("INSERT INTO request_handlers (request_id, counsellor_id) VALUES (2, 1), (3, 1)")
        )
    await migrate(empty.write)
    async with empty.write.connect() as conn:
        found = (await conn.execute(select(tables.requests.c.id, tables.requests.c.updated_at))).all()
    assert sorted(tuple(row) for row in found) == [(1, created), (2, assigned), (3, closed)]

    async with empty.write.begin() as conn:
        await conn.run_sync(_downgrade_to(url, "0005"))
    async with empty.write.connect() as conn:
        handlers = (await conn.execute(text("SELECT request_id, counsellor_id FROM request_handlers"))).all()
        assert sorted(tuple(h) for h in handlers) == [(2, 1), (3, 1)]
        assert "updated_at" not in (await conn.run_sync(_columns))["requests"]
    await migrate(empty.write)


async def test_0010_counts_the_clients_stored_before_it_and_going_back_removes_the_counter(
    empty: Engines,
) -> None:
    url = empty.write.url.render_as_string(hide_password=False)
    async with empty.write.begin() as conn:
        await conn.run_sync(_upgrade_to(url, "0009"))

    async def add_clients(ids: range) -> None:
        async with empty.write.begin() as conn:
            for i in ids:
                await conn.execute(
                    text(
                        "INSERT INTO clients (id, client_code, display_name, sort_name, invitation_status,"
                        " account_status, search_text, session_generation, created_at) VALUES"
                        " (:id, :code, 'K', 'k', 'NO_ACCESS', 'ACTIVE', '', 0, :at)"
                    ),
                    {"id": i, "code": f"C{i:05}", "at": datetime(2026, 1, 1, tzinfo=UTC)},
                )

    async def totals() -> dict[int, int]:
        async with empty.write.connect() as conn:
            return dict(
                (await conn.execute(select(tables.client_totals.c.slot, tables.client_totals.c.n))).all()
            )

    await add_clients(range(1, 41))
    await migrate(empty.write)
    assert await totals() == {slot: 3 if slot in range(1, 9) else 2 for slot in range(16)}
    async with empty.write.begin() as conn:
        await conn.run_sync(_downgrade_to(url, "0009"))
    async with empty.write.connect() as conn:
        assert "client_totals" not in await conn.run_sync(_tables)
    await add_clients(range(41, 43))  # no trigger left to fail
    await migrate(empty.write)
    assert sum((await totals()).values()) == 42
