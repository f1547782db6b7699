"""The client overview checks the session in its page's transaction (reads.client_overview): every
reason a session ends still ends it, and the session's errors come before the arguments'."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.websockets import WebSocket

from domain.model import Role, StaffRole, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import change_password, logout, register_client
from domain.use_cases.clients import ClientProfile, create_client
from domain.use_cases.counsellors import CounsellorUpdate, NewCounsellor, add_counsellor, update_counsellor
from graph.context import AppState, Context
from graph.schema import schema
from tests.api.conftest import Execute

OVERVIEW = "query ($first: Int) { clients(first: $first) { totalCount edges { node { displayName } } } }"
BAD_FILTER = '{ clients(filter: { lastLoginAfter: "2026-01-01T00:00:00" }) { totalCount } }'


def _codes(result: dict[str, Any]) -> list[str | None]:
    return [(e.get("extensions") or {}).get("code") for e in result["errors"]]


async def _admin(deps: Deps, state: AppState, email: str = "boss@api.test") -> tuple[Viewer, str]:
    admin = await add_counsellor(deps, NewCounsellor(email, "admin-password", "Boss", role=StaffRole.ADMIN))
    viewer = Viewer(role=Role.ADMIN, counsellor_id=admin.id)
    token, expires = state.signer.issue(viewer)
    claims = state.signer.read(token)
    return Viewer(Role.ADMIN, counsellor_id=admin.id, token_id=claims.token_id, expires_at=expires), token


async def test_a_revoked_token_reads_no_overview(deps: Deps, state: AppState, execute: Execute) -> None:
    viewer, token = await _admin(deps, state)
    assert not (await execute(OVERVIEW, token=token))["errors"]
    await logout(deps, viewer)
    assert _codes(await execute(OVERVIEW, token=token)) == ["UNAUTHENTICATED"]


async def test_a_deactivated_counsellor_and_a_password_change_end_the_overview(
    deps: Deps, state: AppState, execute: Execute
) -> None:
    boss, boss_token = await _admin(deps, state)
    other, other_token = await _admin(deps, state, "other@api.test")
    await update_counsellor(deps, boss, CounsellorUpdate(other.counsellor_id or 0, active=False))
    assert _codes(await execute(OVERVIEW, token=other_token)) == ["UNAUTHENTICATED"]
    await change_password(deps, boss, "admin-password", "a-new-password-22")
    assert _codes(await execute(OVERVIEW, token=boss_token)) == ["UNAUTHENTICATED"]


async def test_a_demoted_admin_sees_what_a_counsellor_sees(
    deps: Deps, state: AppState, execute: Execute
) -> None:
    boss, _ = await _admin(deps, state)
    demoted, token = await _admin(deps, state, "demoted@api.test")
    await create_client(deps, boss, ClientProfile(display_name="Kim"), None)
    before = await execute(OVERVIEW, token=token)
    await update_counsellor(
        deps, boss, CounsellorUpdate(demoted.counsellor_id or 0, role=StaffRole.COUNSELLOR)
    )
    after = await execute(OVERVIEW, token=token)
    assert before["data"]["clients"]["totalCount"] == 1
    assert not after["errors"] and after["data"]["clients"]["totalCount"] == 0, after


async def test_a_client_and_an_anonymous_caller(deps: Deps, state: AppState, execute: Execute) -> None:
    kim = await register_client(deps, "Kim", "kim@api.test", "password-123", None)
    token, _ = state.signer.issue(kim)
    assert _codes(await execute(OVERVIEW, token=token)) == ["FORBIDDEN"]
    assert _codes(await execute(OVERVIEW)) == ["UNAUTHENTICATED"]
    assert _codes(await execute(OVERVIEW, token="forged")) == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("who", ["anonymous", "client", "revoked"])
async def test_who_may_not_read_the_overview_is_told_so_before_a_bad_first(
    who: str, deps: Deps, state: AppState, execute: Execute
) -> None:
    token: str | None = None
    expected = "UNAUTHENTICATED"
    if who == "client":
        kim = await register_client(deps, "Kim", "kim@api.test", "password-123", None)
        token, _ = state.signer.issue(kim)
        expected = "FORBIDDEN"
    elif who == "revoked":
        viewer, token = await _admin(deps, state)
        await logout(deps, viewer)

    result = await execute(OVERVIEW, {"first": 500}, token=token)

    assert _codes(result) == [expected], result


async def test_a_bad_filter_still_comes_after_the_session(
    deps: Deps, state: AppState, execute: Execute
) -> None:
    assert _codes(await execute(BAD_FILTER)) == ["UNAUTHENTICATED"]


async def test_each_websocket_operation_checks_the_session_anew(deps: Deps, state: AppState) -> None:
    viewer, token = await _admin(deps, state)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.disconnect"}

    async def send(_message: Any) -> None:
        pass

    socket = WebSocket({"type": "websocket", "path": "/graphql", "headers": []}, receive, send)
    context = Context(state, socket)
    context.connection_params = {"Authorization": f"Bearer {token}"}
    first = await schema.execute(OVERVIEW, context_value=context)
    assert not first.errors
    await logout(deps, viewer)
    second = await schema.execute(OVERVIEW, context_value=context)
    assert [e.extensions.get("code") for e in second.errors or []] == ["UNAUTHENTICATED"]  # type: ignore[union-attr]
    me = await schema.execute("{ me { role } }", context_value=context)
    assert [e.extensions.get("code") for e in me.errors or []] == ["UNAUTHENTICATED"]  # type: ignore[union-attr]
