"""No N+1: the client overview runs a constant number of SQL statements, whatever the page size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from domain.model import Channel, Role, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import register_client
from domain.use_cases.clients import ClientProfile, create_client
from domain.use_cases.counsellors import NewCounsellor, add_counsellor
from domain.use_cases.requests import submit_request
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
    # session (account and revocation), client page with its count, counsellors, requests page, request counts
    assert len(many) == 5, many


async def test_the_client_overview_without_requests_takes_three_statements(
    deps: Deps, engines: Engines, execute: Execute, admin_token: str
) -> None:
    await _clients(deps, Viewer(role=Role.ADMIN, counsellor_id=1), 20)
    query = "{ clients(first: 50) { totalCount edges { node { displayName primaryCounsellor { displayName } } } } }"

    with counted(engines) as statements:
        result = await execute(query, token=admin_token)

    assert not result["errors"] and result["data"]["clients"]["totalCount"] == 21
    assert len(statements) == 3, statements


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


async def test_the_member_list_with_every_new_column_takes_three_statements_for_admins_and_counsellors(
    deps: Deps, engines: Engines, execute: Execute, admin_token: str, state: Any
) -> None:
    """Open requests and last request ride along in the page's one statement (no N+1), also for a
    counsellor, whose page is a UNION of their primary clients and the clients of requests they hold."""
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
            assert len(statements) <= 3, statements
