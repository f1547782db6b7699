"""No N+1: the client overview runs a constant number of SQL statements, whatever the page size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from domain.model import Channel, MailAvailability, OnlineStatus, Role, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import register_client
from domain.use_cases.clients import ClientProfile, create_client
from domain.use_cases.counsellors import (
    NewCounsellor,
    add_counsellor,
    set_mail_availability,
    set_online_status,
)
from domain.use_cases.requests import submit_request
from graph import ids
from graph.context import AppState
from persistence.database import Engines
from tests.api.conftest import Execute

OVERVIEW = """
query Overview($first: Int) {
  clients(first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node {
      displayName clientCode
      primaryCounsellor { displayName onlineStatus }
      requests(first: 3) { totalCount edges { node { status channel } } }
    } }
  }
}
"""


@contextmanager
def transactions(engines: Engines) -> Iterator[list[str]]:
    """The transactions begun meanwhile (on SQLite a write's BEGIN IMMEDIATE is a statement too)."""
    begun: list[str] = []

    def record(conn: Any) -> None:
        begun.append(str(conn.engine.url.drivername))

    targets = {engines.write.sync_engine, engines.read.sync_engine}
    for target in targets:
        event.listen(target, "begin", record)
    try:
        yield begun
    finally:
        for target in targets:
            event.remove(target, "begin", record)


@contextmanager
def counted(engines: Engines) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(*args: Any) -> None:
        if args[2] not in ("BEGIN", "BEGIN IMMEDIATE"):
            statements.append(args[2].split("\n")[0])

    targets = {engines.write.sync_engine, engines.read.sync_engine}
    for target in targets:
        event.listen(target, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for target in targets:
            event.remove(target, "before_cursor_execute", record)


async def _clients(deps: Deps, admin_token_viewer: Viewer, count: int) -> None:
    counsellors = [
        await add_counsellor(deps, NewCounsellor(f"c{i}@api.test", "password-123", f"Counsellor {i}"))
        for i in range(5)
    ]
    for i in range(count):
        primary = counsellors[i % len(counsellors)].id
        await create_client(deps, admin_token_viewer, ClientProfile(display_name=f"Client {i:03}"), primary)
    client = await register_client(deps, "Client with requests", "kim@api.test", "password-123", None)
    for n in range(3):
        await submit_request(deps, client, Channel.MAIL, f"message {n}", None, None)


async def test_client_overview_runs_the_same_few_statements_for_5_and_50_clients(
    deps: Deps, engines: Engines, execute: Execute, admin_token: str
) -> None:
    admin = Viewer(role=Role.ADMIN, counsellor_id=1)
    await _clients(deps, admin, 60)

    with counted(engines) as few:
        small = await execute(OVERVIEW, {"first": 5}, token=admin_token)
    with counted(engines) as many:
        large = await execute(OVERVIEW, {"first": 50}, token=admin_token)

    assert not small["errors"] and not large["errors"]
    assert len(large["data"]["clients"]["edges"]) == 50
    assert large["data"]["clients"]["totalCount"] == 61
    assert all(e["node"]["primaryCounsellor"] for e in large["data"]["clients"]["edges"])
    assert len(many) == len(few)
    # session (account and revocation), client page with its count and primaries, requests page, request counts
    assert len(many) == 4, many


async def test_the_client_overview_without_requests_takes_two_statements(
    deps: Deps, engines: Engines, execute: Execute, admin_token: str
) -> None:
    await _clients(deps, Viewer(role=Role.ADMIN, counsellor_id=1), 20)
    query = "{ clients(first: 50) { totalCount edges { node { displayName primaryCounsellor { displayName } } } } }"

    with counted(engines) as statements:
        result = await execute(query, token=admin_token)

    assert not result["errors"] and result["data"]["clients"]["totalCount"] == 21
    assert len(statements) == 2, statements  # the session, the page with its primaries


async def test_the_overview_checks_the_session_in_the_transaction_of_its_page(
    deps: Deps, engines: Engines, execute: Execute, admin_token: str
) -> None:
    await _clients(deps, Viewer(role=Role.ADMIN, counsellor_id=1), 3)
    query = "{ clients(first: 50) { totalCount edges { node { displayName } } } }"

    with counted(engines) as statements, transactions(engines) as begun:
        result = await execute(query, token=admin_token)

    assert not result["errors"] and result["data"]["clients"]["totalCount"] == 4
    assert len(statements) == 2 and len(begun) == 1, (statements, begun)


CLIENT_BY_ID = "query ($id: ID!) { client(id: $id) { displayName %s } }"
READ_WHEN_SELECTED = "openRequestCount lastRequestAt primaryCounsellor { displayName }"


async def test_a_client_outside_the_overview_reads_open_requests_last_request_and_primary_only_when_asked(
    deps: Deps, engines: Engines, execute: Execute, admin_token: str
) -> None:
    anna = await add_counsellor(deps, NewCounsellor("anna@api.test", "password-123", "Anna"))
    await set_mail_availability(
        deps, Viewer(role=Role.COUNSELLOR, counsellor_id=anna.id), MailAvailability.UNLIMITED, None, None
    )
    kim = await register_client(deps, "Kim", "kim@api.test", "password-123", None)
    submitted = [await submit_request(deps, kim, Channel.MAIL, f"message {n}", None, None) for n in range(2)]
    variables = {"id": str(ids.encode("Client", kim.client_id or 0))}

    with counted(engines) as plain:
        name_only = await execute(CLIENT_BY_ID % "", variables, token=admin_token)
    with counted(engines) as selected:
        everything = await execute(CLIENT_BY_ID % READ_WHEN_SELECTED, variables, token=admin_token)

    assert not name_only["errors"] and not everything["errors"], (name_only, everything)
    assert everything["data"]["client"] == {
        "displayName": "Kim",
        "openRequestCount": 2,
        "lastRequestAt": submitted[-1].created_at.isoformat(),
        "primaryCounsellor": {"displayName": "Anna"},
    }
    # Open requests, the last request and the primary: one statement each, only when selected.
    assert len(selected) == len(plain) + 3, (plain, selected)


MEMBER_LIST = """
query ($order: ClientOrder!) {
  clients(first: 50, orderBy: $order) {
    totalCount
    edges { node {
      displayName clientCode accountStatus invitationStatus lastLoginAt openRequestCount lastRequestAt
      deletedAt erasureDueAt primaryCounsellor { displayName }
    } }
  }
}
"""
SUBMIT = """
mutation Submit($input: SubmitRequestInput!) {
  submitRequest(input: $input) { id status routingReason }
}
"""


async def test_the_member_list_with_every_new_column_takes_two_statements_for_admins_and_counsellors(
    deps: Deps, engines: Engines, execute: Execute, admin_token: str, state: Any
) -> None:
    """Open requests, last request and the primary ride along in the page's one statement (no N+1),
    also for a counsellor, whose page is a UNION of their primary clients and the clients of
    requests they hold."""
    await _clients(deps, Viewer(role=Role.ADMIN, counsellor_id=1), 20)
    counsellor_token, _ = state.signer.issue(Viewer(role=Role.COUNSELLOR, counsellor_id=2))
    for token, total in ((admin_token, 21), (counsellor_token, 4)):
        for order in (
            "DISPLAY_NAME",
            "LAST_LOGIN",
            "ACCOUNT_STATUS",
            "INVITATION_STATUS",
            "PRIMARY_COUNSELLOR",
        ):
            with counted(engines) as statements:
                result = await execute(MEMBER_LIST, {"order": order}, token=token)
            assert not result["errors"], result["errors"]
            assert result["data"]["clients"]["totalCount"] == total
            assert len(statements) == 2, statements


async def _first_request_world(deps: Deps, state: AppState) -> tuple[str, int, list[int]]:
    """Three online counsellors and a new client without a primary; the client's token."""
    counsellors = []
    for i in range(3):
        found = await add_counsellor(deps, NewCounsellor(f"free{i}@api.test", "password-123", f"Free {i}"))
        me = Viewer(role=Role.COUNSELLOR, counsellor_id=found.id)
        await set_online_status(deps, me, OnlineStatus.ONLINE, None)
        await set_mail_availability(deps, me, MailAvailability.UNLIMITED, None, None)
        counsellors.append(found.id)
    client = await register_client(deps, "New client", "new@api.test", "password-123", None)
    token, _ = state.signer.issue(client)
    return token, client.client_id or 0, counsellors


@pytest.mark.parametrize("channel", ["CHAT", "MAIL"])
@pytest.mark.parametrize("key", [None, "widget-1"])
async def test_a_first_request_takes_at_most_eight_statements_in_one_transaction(
    deps: Deps, engines: Engines, state: AppState, execute: Execute, channel: str, key: str | None
) -> None:
    token, client_id, counsellors = await _first_request_world(deps, state)
    submit = {"input": {"channel": channel, "message": "Hello", "idempotencyKey": key}}

    with counted(engines) as statements, transactions(engines) as begun:
        result = await execute(SUBMIT, submit, token=token)

    assert not result["errors"], result["errors"]
    assert result["data"]["submitRequest"]["status"] == "ASSIGNED"
    assert result["data"]["submitRequest"]["routingReason"] == "FIRST_REQUEST"
    assert len(statements) <= 8, "\n".join(statements)
    assert len(begun) == 1, begun
    # Everything a first request writes was written: primary, its history entry, the handler.
    async with deps.uow(write=False) as uow:
        (stored,) = await uow.requests.of_client(client_id)
        client = await uow.clients.get(stored.client_id)
        history = await uow.history.for_clients([stored.client_id])
        handled = await uow.requests.handled_by(stored.id, stored.counsellor_id or 0)
    assert stored.counsellor_id in counsellors and stored.trace
    assert client is not None and client.primary_counsellor_id == stored.counsellor_id
    assert [c.new_counsellor_id for c in history[stored.client_id]] == [stored.counsellor_id]
    assert handled
