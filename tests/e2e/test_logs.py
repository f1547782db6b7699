"""Nothing secret in the server's logs: its whole output after a run full of secrets.

The server is the production entrypoint (`python -m graph.main`) in a process of its own, its
stdout and stderr captured to files. The run sends passwords (login by POST, and by GET, which
is refused with 405), tokens, e-mails, message texts and search terms (queries by GET carry
them in the query string); afterwards none of them may appear anywhere in that output.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.multiprocess.support import ADMIN_EMAIL, ADMIN_PASSWORD, Node, node
from tests.services import Backend

LOGIN = "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }"
CREATE_COUNSELLOR = "mutation ($input: CreateCounsellorInput!) { createCounsellor(input: $input) { id } }"
REGISTER = "mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token } }"
SUBMIT = "mutation ($input: SubmitRequestInput!) { submitRequest(input: $input) { id status } }"
SEARCH = "query ($f: ClientFilter) { clients(filter: $f) { totalCount } }"


@pytest.fixture
def server(database_url: str, backend: Backend, tmp_path: Path) -> Iterator[Node]:
    found = node("logs", database_url, backend.bus_url, tmp_path)
    found.start()
    try:
        yield found
    finally:
        found.stop()


def _secret(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:12]}"


class Run:
    """GraphQL over HTTP against one node, collecting every secret it sends."""

    def __init__(self, http: httpx.AsyncClient, node: Node) -> None:
        self.http = http
        self.url = node.graphql_url
        self.secrets: dict[str, str] = {}

    def secret(self, label: str, value: str | None = None) -> str:
        self.secrets[label] = value or _secret(label.replace(" ", "-"))
        return self.secrets[label]

    async def post(self, query: str, token: str | None = None, **variables: Any) -> dict[str, Any]:
        response = await self.http.post(
            self.url, json={"query": query, "variables": variables}, headers=_auth(token)
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def get(self, query: str, token: str | None = None, **variables: Any) -> httpx.Response:
        params = {"query": query, **({"variables": json.dumps(variables)} if variables else {})}
        return await self.http.get(self.url, params=params, headers=_auth(token))

    async def token(self, email: str, password: str) -> str:
        token: str = (await self.post(LOGIN, e=email, p=password))["data"]["login"]["token"]
        return self.secret(f"token of {email}", token)


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _scenario(run: Run) -> None:
    run.secret("admin password", ADMIN_PASSWORD)
    admin = await run.token(ADMIN_EMAIL, ADMIN_PASSWORD)
    counsellor_email = run.secret("counsellor e-mail", f"{_secret('anna')}@logs.test")
    counsellor_password = run.secret("counsellor password")
    await run.post(
        CREATE_COUNSELLOR,
        admin,
        input={"email": counsellor_email, "password": counsellor_password, "displayName": "Anna"},
    )
    await run.token(counsellor_email, counsellor_password)
    client_email = run.secret("client e-mail", f"{_secret('kim')}@logs.test")
    registered = await run.post(
        REGISTER,
        input={"displayName": "Kim", "email": client_email, "password": run.secret("client password")},
    )
    client = run.secret("client token", registered["data"]["registerClient"]["token"])
    submitted = await run.post(
        SUBMIT,
        client,
        input={"channel": "MAIL", "subject": run.secret("subject"), "message": run.secret("message")},
    )
    assert submitted["data"]["submitRequest"]["status"]
    # A wrong password by POST, and logins by GET: refused, whether right or wrong.
    wrong = await run.post(LOGIN, e=client_email, p=run.secret("wrong password"))
    assert wrong["errors"]
    for password in (run.secrets["client password"], run.secret("password sent by GET")):
        refused = await run.get(LOGIN, e=client_email, p=password)
        assert (refused.status_code, refused.headers.get("allow")) == (405, "POST")
    inline = f'mutation {{ login(email: "{client_email}", password: "{run.secret("inline password")}") {{ token }} }}'
    assert (await run.get(inline)).status_code == 405
    # Queries by GET are fine: their search terms travel in the query string.
    found = await run.get(SEARCH, admin, f={"search": run.secret("search term")})
    assert (found.status_code, found.json()["data"]["clients"]["totalCount"]) == (200, 0)
    by_email = await run.get(SEARCH, admin, f={"search": client_email})
    assert by_email.json()["data"]["clients"]["totalCount"] == 1
    inline_search = f'{{ clients(filter: {{search: "{run.secret("inline search")}"}}) {{ totalCount }} }}'
    assert (await run.get(inline_search, admin)).status_code == 200


async def test_the_server_log_holds_no_password_token_e_mail_message_or_search_term(server: Node) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        run = Run(http, server)
        await _scenario(run)
    server.stop()

    output = server.log()  # stdout and stderr, whole
    # The access log was written (so the scan below looked at something) ...
    assert "POST /graphql 200" in output
    assert "GET /graphql 405" in output
    assert "GET /graphql 200" in output
    # ... and holds none of what the run sent.
    assert {label for label, secret in run.secrets.items() if secret in output} == set()
