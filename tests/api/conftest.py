"""In-process GraphQL: the real schema and use cases on a real database, without a server."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from starlette.requests import Request

from domain.model import Role, StaffRole, Viewer
from domain.use_cases import Deps
from domain.use_cases.counsellors import NewCounsellor, add_counsellor
from graph.auth import TokenSigner
from graph.context import AppState, Context
from graph.schema import schema
from persistence.event_bus import EventBus

Execute = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def state(deps: Deps, bus: EventBus) -> AppState:
    return AppState(deps=deps, signer=TokenSigner("test-secret-key-of-enough-length!", 3600), bus=bus)


def http_request(token: str | None) -> Request:
    headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    return Request({"type": "http", "method": "POST", "path": "/graphql", "headers": headers})


@pytest.fixture
def execute(state: AppState) -> Execute:
    """Run one operation as an HTTP request with `token` would; returns {data, errors}."""

    async def run(
        query: str, variables: dict[str, Any] | None = None, token: str | None = None
    ) -> dict[str, Any]:
        result = await schema.execute(query, variables, context_value=Context(state, http_request(token)))
        errors = [e.formatted for e in result.errors or []]
        return {"data": result.data, "errors": errors}

    return run


@pytest.fixture
async def admin_token(deps: Deps, state: AppState) -> str:
    admin = await add_counsellor(
        deps, NewCounsellor("admin@api.test", "admin-password", "Admin", role=StaffRole.ADMIN)
    )
    token, _ = state.signer.issue(Viewer(role=Role.ADMIN, counsellor_id=admin.id))
    return token
