"""Member management through a real server: an invitation mail delivered over real SMTP (a local
aiosmtpd server), its link accepted, the account signed in; blocking and deleting a client."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import _database
from tests.e2e.support import (
    LiveServer,
    codes,
    e2e_config,
    free_port,
    start_server,
    stop_server,
    unique_email,
)
from tests.services import backends
from tests.support.smtp import Inbox, local_smtp
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e
PUBLIC_URL = "https://beratung.example.org"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with local_smtp() as found:
        yield found


@pytest.fixture(params=backends())
def mailing_server(
    request: pytest.FixtureRequest, tmp_path: Path, inbox: tuple[Inbox, int]
) -> Iterator[LiveServer]:
    """A server whose mails go to the local SMTP server."""
    backend = request.param
    for database_url in _database(backend, tmp_path):
        port = free_port()
        config = dataclasses.replace(
            e2e_config(database_url, backend.bus_url, port, tmp_path),
            smtp_url=f"smtp://127.0.0.1:{inbox[1]}",
            smtp_starttls=False,
            mail_seconds=0.1,
            public_url=PUBLIC_URL,
        )
        live = start_server(config, port)
        try:
            yield live
        finally:
            stop_server(live)


async def _token_mailed_to(inbox: Inbox, address: str, count: int = 1) -> str:
    async def arrived() -> list[str] | None:
        found = inbox.to(address)
        return found if len(found) >= count else None

    bodies = await eventually(arrived, f"mail number {count} to {address}")
    found = re.search(re.escape(PUBLIC_URL) + r"/invitation\?token=([A-Za-z0-9_-]+)", bodies[-1])
    assert found, bodies[-1]
    return found.group(1)


ACCEPT = "mutation ($t: String!, $p: String!) { acceptInvitation(token: $t, password: $p) { token me { role client { id invitationStatus } counsellor { id invitationStatus } } } }"


async def test_an_invited_client_and_counsellor_set_their_passwords_from_a_real_mail(
    mailing_server: LiveServer, inbox: tuple[Inbox, int]
) -> None:
    live, mails = mailing_server, inbox[0]
    admin = await live.admin_token()
    email = unique_email("ina")
    created = await live.call(
        admin,
        'mutation ($e: String) { createClient(input: {displayName: "Ina", email: $e}) { id } }',
        e=email,
    )
    client_id = created["createClient"]["id"]
    invited = await live.call(
        admin, "mutation ($id: ID!) { inviteClient(id: $id) { invitationStatus } }", id=client_id
    )
    assert invited["inviteClient"]["invitationStatus"] == "INVITED"

    token = await _token_mailed_to(mails, email)
    session = await live.call(None, ACCEPT, t=token, p="ina-password-1")

    assert session["acceptInvitation"]["me"]["client"] == {"id": client_id, "invitationStatus": "REGISTERED"}
    me = await live.call(session["acceptInvitation"]["token"], "{ me { role } }")
    assert me["me"]["role"] == "CLIENT"
    errors = await live.call_error(None, ACCEPT, t=token, p="ina-password-2")
    assert codes(errors) == ["BAD_USER_INPUT"] and errors[0]["extensions"]["field"] == "token"

    staff_email = unique_email("nina")
    await live.call(
        admin,
        'mutation ($e: String!) { createCounsellor(input: {email: $e, displayName: "Nina"}) { invitationStatus } }',
        e=staff_email,
    )
    staff_token = await _token_mailed_to(mails, staff_email)
    staff_session = await live.call(None, ACCEPT, t=staff_token, p="nina-password-1")
    assert staff_session["acceptInvitation"]["me"]["role"] == "COUNSELLOR"
    assert await live.login(staff_email, "nina-password-1")
    listed = await live.call(
        admin,
        "query ($s: String) { staff(filter: {search: $s}) { totalCount edges { node { invitationStatus lastLoginAt primaryClientCount } } } }",
        s=staff_email.upper(),
    )
    (node,) = [e["node"] for e in listed["staff"]["edges"]]
    assert (
        node["invitationStatus"] == "REGISTERED" and node["lastLoginAt"] and node["primaryClientCount"] == 0
    )


async def test_a_blocked_client_is_refused_and_a_deleted_one_restored(mailing_server: LiveServer) -> None:
    live = mailing_server
    admin = await live.admin_token()
    email = unique_email("kim")
    registered = await live.call(
        None,
        'mutation ($e: String!) { registerClient(input: {displayName: "Kim", email: $e, password: "kim-password-1"}) { token me { client { id } } } }',
        e=email,
    )
    kim, kim_id = registered["registerClient"]["token"], registered["registerClient"]["me"]["client"]["id"]

    blocked = await live.call(
        admin, "mutation ($id: ID!) { blockClient(id: $id) { accountStatus } }", id=kim_id
    )
    assert blocked["blockClient"]["accountStatus"] == "BLOCKED"
    errors = await live.call_error(
        None, 'mutation ($e: String!) { login(email: $e, password: "kim-password-1") { token } }', e=email
    )
    assert codes(errors) == ["UNAUTHENTICATED"] and "blocked" in errors[0]["message"]
    errors = await live.call_error(
        kim, 'mutation { submitRequest(input: {channel: MAIL, message: "Hallo"}) { id } }'
    )
    assert codes(errors) == ["UNAUTHENTICATED"]
    listed = await live.call(
        admin,
        "{ clients(filter: {accountStatus: BLOCKED}) { edges { node { id openRequestCount lastRequestAt } } } }",
    )
    assert [e["node"]["id"] for e in listed["clients"]["edges"]] == [kim_id]

    await live.call(admin, "mutation ($id: ID!) { unblockClient(id: $id) { id } }", id=kim_id)
    deleted = await live.call(
        admin,
        "mutation ($id: ID!) { deleteClient(id: $id) { accountStatus deletedAt erasureDueAt } }",
        id=kim_id,
    )
    assert deleted["deleteClient"]["accountStatus"] == "DELETED" and deleted["deleteClient"]["erasureDueAt"]
    restored = await live.call(
        admin, "mutation ($id: ID!) { restoreClient(id: $id) { accountStatus deletedAt } }", id=kim_id
    )
    assert restored["restoreClient"] == {"accountStatus": "ACTIVE", "deletedAt": None}
    assert await live.login(email, "kim-password-1")
