"""submitRequest checks a client's session inside its own transaction (on the client's locked row),
by the same rules as every other operation: a revoked token, a session ended by a password change
and an erased account are UNAUTHENTICATED, and nothing is stored."""

from __future__ import annotations

from typing import Any

from domain.model import Role, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import change_password, register_client
from domain.use_cases.privacy import erase_client
from graph.context import AppState
from tests.api.conftest import Execute

SUBMIT = """
mutation Submit($input: SubmitRequestInput!) { submitRequest(input: $input) { id status } }
"""
HELLO = {"input": {"channel": "MAIL", "message": "Hello"}}


async def _client(deps: Deps, state: AppState) -> tuple[Viewer, str]:
    client = await register_client(deps, "Kim", "kim@session.test", "password-123", None)
    token, _ = state.signer.issue(client)
    return client, token


async def _stored(deps: Deps, client: Viewer) -> int:
    async with deps.uow(write=False) as uow:
        return len(await uow.requests.of_client(client.client_id or 0))


def _refusal(result: dict[str, Any]) -> tuple[str, str]:
    assert result["data"] is None, result
    (error,) = result["errors"]
    return error["extensions"]["code"], error["message"]


async def test_a_valid_client_token_submits(deps: Deps, state: AppState, execute: Execute) -> None:
    client, token = await _client(deps, state)
    result = await execute(SUBMIT, HELLO, token=token)
    assert not result["errors"] and result["data"]["submitRequest"]["status"] == "QUEUED"
    assert await _stored(deps, client) == 1


async def test_a_revoked_token_cannot_submit(deps: Deps, state: AppState, execute: Execute) -> None:
    client, token = await _client(deps, state)
    claims = state.signer.read(token)
    async with deps.uow() as uow:
        await uow.tokens.revoke(claims.token_id, claims.expires_at)
        await uow.commit()

    assert _refusal(await execute(SUBMIT, HELLO, token=token)) == (
        "UNAUTHENTICATED",
        "The token was revoked.",
    )
    assert await _stored(deps, client) == 0


async def test_a_token_from_before_a_password_change_cannot_submit(
    deps: Deps, state: AppState, execute: Execute
) -> None:
    client, token = await _client(deps, state)
    await change_password(deps, client, "password-123", "another-password-456")

    refused = _refusal(await execute(SUBMIT, HELLO, token=token))
    assert refused == ("UNAUTHENTICATED", "The session has ended; sign in again.")
    assert await _stored(deps, client) == 0


async def test_an_erased_clients_token_cannot_submit(
    deps: Deps, state: AppState, execute: Execute, admin_token: str
) -> None:
    client, token = await _client(deps, state)
    await erase_client(deps, Viewer(role=Role.ADMIN, counsellor_id=1), client.client_id or 0)

    assert _refusal(await execute(SUBMIT, HELLO, token=token)) == (
        "UNAUTHENTICATED",
        "The account is not active.",
    )
    assert await _stored(deps, client) == 0
