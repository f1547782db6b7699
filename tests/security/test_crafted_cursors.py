"""Cursors are opaque, yet a client can craft one: whatever it holds, the answer is a clear
BAD_USER_INPUT naming `after`, never a database error (PostgreSQL refuses NUL and lone surrogates)."""

from __future__ import annotations

import base64
import json

import pytest

from graph.schema import schema
from tests.security.scene import Scene, context_of

CLIENTS = "query($after: String) { clients(after: $after) { edges { node { displayName } } } }"


def crafted(*key: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(key)).encode()).decode()


@pytest.mark.parametrize("name", ["\u0000", "a\u0000b", "\ud800", "\udfff x"])
async def test_a_crafted_client_cursor_is_bad_input(scene: Scene, name: str) -> None:
    result = await schema.execute(
        CLIENTS, {"after": crafted(name, 1)}, context_value=context_of(scene, "admin")
    )
    assert result.errors is not None
    assert [(e.extensions or {}).get("code") for e in result.errors] == ["BAD_USER_INPUT"]
    assert [(e.extensions or {}).get("field") for e in result.errors] == ["after"]
