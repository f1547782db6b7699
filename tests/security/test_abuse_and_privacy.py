"""Abuse limits (requests per client, registrations per address), data protection (export, erasure),
the audit log, request texts encrypted at rest, and logs free of personal data and secrets.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from domain.limits import Limits
from graph import ids
from persistence.crypto import PREFIX
from tests.e2e.support import (
    ADMIN_PASSWORD,
    PASSWORD,
    SUBMIT,
    ClientAccount,
    Counsellor,
    LiveServer,
    codes,
    create_counsellor,
    register_client,
    unique_email,
)
from tests.security.support import (
    Servers,
    call,
    call_error,
    close_code,
    post_json,
    raw_ws,
    receive,
    subscribe,
)

pytestmark = pytest.mark.e2e

CANCEL = "mutation ($id: ID!) { cancelRequest(id: $id) { id status } }"
EXPORT = "mutation ($id: ID!) { exportClientData(clientId: $id) }"
ERASE = """
mutation ($id: ID!) {
  eraseClient(clientId: $id) {
    id displayName email firstName lastName phone language accountStatus invitationStatus
  }
}"""
CLIENT = """
query ($id: ID!) {
  client(id: $id) {
    id displayName email primaryCounsellor { id }
    primaryCounsellorHistory { id source previousCounsellor { id } newCounsellor { id } }
    requests(first: 50) { totalCount edges { node { id status subject message } } }
  }
}"""
AUDIT = """
{ auditLog(first: 100) { totalCount edges { node { at action subjectId detail actor { id } } } } }"""
CHANGE_PRIMARY = """
mutation ($input: ChangePrimaryCounsellorInput!) { changePrimaryCounsellor(input: $input) { id } }"""
ASSIGN = (
    "mutation ($id: ID!, $to: ID!) { assignRequest(id: $id, counsellorId: $to) { id counsellor { id } } }"
)
UPDATE_PROFILE = """
mutation ($input: UpdateClientProfileInput!) { updateClientProfile(input: $input) { id } }"""
ERASED_NAME = "Gelöschte:r Klient:in"


async def submit_request(
    live: LiveServer, token: str, message: str, subject: str | None = None, channel: str = "MAIL"
) -> dict[str, Any]:
    data = await call(live, token, SUBMIT, input={"channel": channel, "message": message, "subject": subject})
    request: dict[str, Any] = data["submitRequest"]
    return request


# Abuse limits ----------------------------------------------------------------------------------


async def test_a_client_has_at_most_three_open_requests(servers: Servers) -> None:
    live = servers.start(limits=Limits())
    client = await register_client(live, "Flut")
    opened = [await submit_request(live, client.token, f"Anfrage {i}") for i in range(3)]
    assert {r["status"] for r in opened} == {"QUEUED"}  # nobody takes mail: all three stay open
    errors = await call_error(live, client.token, SUBMIT, input={"channel": "CHAT", "message": "vierte"})
    assert codes(errors) == ["RATE_LIMITED"]
    # Closing one frees a place.
    await call(live, client.token, CANCEL, id=opened[0]["id"])
    assert (await submit_request(live, client.token, "jetzt geht es"))["status"] == "QUEUED"


async def test_a_client_submits_at_most_so_many_requests_an_hour(servers: Servers) -> None:
    live = servers.start(limits=Limits(submits_per_hour=3, open_requests_per_client=100))
    client = await register_client(live, "Stunde")
    for i in range(3):
        request = await submit_request(live, client.token, f"Anfrage {i}")
        await call(live, client.token, CANCEL, id=request["id"])
    errors = await call_error(live, client.token, SUBMIT, input={"channel": "MAIL", "message": "vierte"})
    assert codes(errors) == ["RATE_LIMITED"]
    # Another client is not affected.
    other = await register_client(live, "Andere")
    assert (await submit_request(live, other.token, "meine erste"))["status"] == "QUEUED"


async def test_registrations_are_limited_per_address(servers: Servers) -> None:
    live = servers.start(limits=Limits())
    registered = [await register_client(live, f"Reg{i}") for i in range(10)]
    errors = await call_error(
        live,
        None,
        "mutation ($input: RegisterClientInput!) { registerClient(input: $input) { token } }",
        input={"displayName": "Elf", "email": unique_email("elf"), "password": PASSWORD},
    )
    assert codes(errors) == ["RATE_LIMITED"]
    # Signing in is not registering: the clients already registered still get in.
    assert await live.login(registered[0].email, PASSWORD)


# Data protection -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scene:
    live: LiveServer
    admin: str
    admin_id: str
    counsellor: Counsellor
    client: ClientAccount
    message: str
    subject: str
    request_id: str


async def scene_of(live: LiveServer) -> Scene:
    """A client whose first mail request made a mail-available counsellor their primary."""
    admin = await live.admin_token()
    admin_id = (await call(live, admin, "{ me { counsellor { id } } }"))["me"]["counsellor"]["id"]
    counsellor = await create_counsellor(live, admin, "Primär", mailAvailability="UNLIMITED")
    client = await register_client(live, "Klientin")
    message, subject = f"Geheimnis {uuid.uuid4().hex}", f"Betreff {uuid.uuid4().hex}"
    request = await submit_request(live, client.token, message, subject)
    assert (request["status"], request["routingReason"]) == ("ASSIGNED", "FIRST_REQUEST")
    assert request["counsellor"]["id"] == counsellor.id
    return Scene(live, admin, admin_id, counsellor, client, message, subject, request["id"])


@pytest.fixture
async def scene(servers: Servers) -> Scene:
    return await scene_of(servers.start())


async def test_admins_export_everything_stored_about_a_client(scene: Scene) -> None:
    live = scene.live
    exported = (await call(live, scene.admin, EXPORT, id=scene.client.id))["exportClientData"]
    assert exported["client"]["email"] == scene.client.email
    assert exported["client"]["display_name"] == "Klientin"
    assert [(r["message"], r["subject"]) for r in exported["requests"]] == [(scene.message, scene.subject)]
    history = exported["primaryCounsellorHistory"]
    assert len(history) == 1 and history[0]["source"] == "AUTOMATIC"
    assert history[0]["new_counsellor_id"] == ids.decode(scene.counsellor.id, "Counsellor", "id")
    dumped = json.dumps(exported)
    assert "password_hash" not in dumped and "$argon2" not in dumped
    assert exported["client"]["has_password"] is True


@pytest.mark.parametrize("operation", [EXPORT, ERASE], ids=["export", "erase"])
async def test_only_admins_export_and_erase(scene: Scene, operation: str) -> None:
    live = scene.live
    # Not even the client's own primary counsellor, nor the client.
    assert codes(await call_error(live, scene.counsellor.token, operation, id=scene.client.id)) == [
        "FORBIDDEN"
    ]
    assert codes(await call_error(live, scene.client.token, operation, id=scene.client.id)) == ["FORBIDDEN"]
    assert codes(await call_error(live, None, operation, id=scene.client.id)) == ["UNAUTHENTICATED"]
    # Nothing happened.
    client = (await call(live, scene.admin, CLIENT, id=scene.client.id))["client"]
    assert client["email"] == scene.client.email
    assert client["requests"]["edges"][0]["node"]["message"] == scene.message


async def test_erasure_removes_personal_data_and_keeps_anonymous_counts(
    scene: Scene, servers: Servers
) -> None:
    live = scene.live
    erased = (await call(live, scene.admin, ERASE, id=scene.client.id))["eraseClient"]
    assert erased["displayName"].startswith(ERASED_NAME)
    assert "Klientin" not in erased["displayName"]
    assert {k: erased[k] for k in ("email", "firstName", "lastName", "phone", "language")} == dict.fromkeys(
        ("email", "firstName", "lastName", "phone", "language")
    )
    assert erased["accountStatus"] == "DELETED"

    client = (await call(live, scene.admin, CLIENT, id=scene.client.id))["client"]
    [request] = [edge["node"] for edge in client["requests"]["edges"]]
    assert request["id"] == scene.request_id
    assert (request["message"], request["subject"]) == (None, None)
    assert request["status"] == "CANCELLED"  # an open request of an erased client ends
    history = client["primaryCounsellorHistory"]
    assert history[0]["source"] == "AUTOMATIC"
    assert history[0]["newCounsellor"] == {"id": scene.counsellor.id}
    assert history[-1]["newCounsellor"] is None  # the primary was removed, recorded like any change

    # A second erasure conflicts; the client's token and password are dead.
    assert codes(await call_error(live, scene.admin, ERASE, id=scene.client.id)) == ["CONFLICT"]
    assert codes(await call_error(live, scene.client.token, "{ me { role } }")) == ["UNAUTHENTICATED"]
    login_errors = await call_error(
        live,
        None,
        "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
        e=scene.client.email,
        p=PASSWORD,
    )
    assert codes(login_errors) == ["UNAUTHENTICATED"]

    # Nothing personal is left in the export or in the stored rows.
    exported = json.dumps((await call(live, scene.admin, EXPORT, id=scene.client.id))["exportClientData"])
    for secret in (scene.client.email, scene.message, scene.subject, "Klientin"):
        assert secret not in exported
    stored = await _rows(
        servers.config(live).database_url,
        "SELECT * FROM clients",
        "SELECT * FROM requests",
        "SELECT * FROM invitation_outbox",
        "SELECT * FROM primary_counsellor_changes",
    )
    for secret in (scene.client.email, "Klientin"):
        assert secret not in stored


async def _rows(database_url: str, *queries: str) -> str:
    """Every row the queries return, as one text to search."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as conn:
            found = []
            for query in queries:
                found += [repr(tuple(row)) for row in await conn.execute(text(query))]
            return "\n".join(found)
    finally:
        await engine.dispose()


# The audit log ---------------------------------------------------------------------------------


async def audit_entries(live: LiveServer, token: str) -> list[dict[str, Any]]:
    data = await call(live, token, AUDIT)
    return [edge["node"] for edge in data["auditLog"]["edges"]]


async def test_staff_actions_on_clients_are_audited(servers: Servers) -> None:
    live = servers.start()
    admin = await live.admin_token()
    admin_id = (await call(live, admin, "{ me { counsellor { id } } }"))["me"]["counsellor"]["id"]
    first = await create_counsellor(live, admin, "Erste")
    second = await create_counsellor(live, admin, "Zweite")
    client = await register_client(live, "Beobachtet")
    assert await audit_entries(live, admin) == []

    await call(live, admin, CHANGE_PRIMARY, input={"clientId": client.id, "counsellorId": first.id})
    request = await submit_request(live, client.token, "Hilfe")  # mail to the primary, whatever its setting
    assert request["counsellor"]["id"] == first.id
    await call(live, first.token, CLIENT, id=client.id)  # their own client: not audited
    await call(live, admin, ASSIGN, id=request["id"], to=second.id)
    await call(live, admin, CLIENT, id=client.id)  # the admin reads another counsellor's client
    # Setting the primary the client already has changes nothing, and records nothing.
    await call(live, first.token, CHANGE_PRIMARY, input={"clientId": client.id, "counsellorId": first.id})
    await call(live, admin, EXPORT, id=client.id)
    await call(live, admin, ERASE, id=client.id)

    entries = list(reversed(await audit_entries(live, admin)))  # oldest first
    assert [(e["action"], e["subjectId"], e["actor"]["id"]) for e in entries] == [
        ("PRIMARY_CHANGED", client.id, admin_id),
        ("REQUEST_ASSIGNED", request["id"], admin_id),
        ("CLIENT_READ", client.id, admin_id),
        ("CLIENT_EXPORTED", client.id, admin_id),
        ("CLIENT_ERASED", client.id, admin_id),
    ]
    assert all(e["at"].endswith(("Z", "+00:00")) for e in entries)
    assert client.email not in json.dumps(entries)

    other_client = await register_client(live, "Neugierig")
    for token in (first.token, second.token, other_client.token):
        assert codes(await call_error(live, token, AUDIT)) == ["FORBIDDEN"]
    assert codes(await call_error(live, None, AUDIT)) == ["UNAUTHENTICATED"]


async def test_a_counsellors_manual_primary_change_is_audited_with_them_as_actor(servers: Servers) -> None:
    live = servers.start()
    admin = await live.admin_token()
    counsellor = await create_counsellor(live, admin, "Selbst", mailAvailability="UNLIMITED")
    client = await register_client(live, "Wechselnd")
    await submit_request(live, client.token, "erste")  # FIRST_REQUEST: automatic, not audited
    assert await audit_entries(live, admin) == []
    await call(live, counsellor.token, CHANGE_PRIMARY, input={"clientId": client.id, "counsellorId": None})
    [entry] = await audit_entries(live, admin)
    assert (entry["action"], entry["subjectId"], entry["actor"]["id"]) == (
        "PRIMARY_CHANGED",
        client.id,
        counsellor.id,
    )


# Encryption at rest ----------------------------------------------------------------------------


async def test_request_texts_are_encrypted_at_rest(scene: Scene, servers: Servers) -> None:
    engine = create_async_engine(servers.config(scene.live).database_url)
    try:
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, subject, message FROM requests"))).all()
    finally:
        await engine.dispose()
    [(request_id, subject, message)] = rows
    assert request_id == ids.decode(scene.request_id, "Request", "id")
    for stored, plain in ((message, scene.message), (subject, scene.subject)):
        assert stored.startswith(PREFIX)
        assert plain not in stored
        assert plain.split()[-1] not in stored  # not even the distinctive part
    # Each text has its own nonce: the same text twice is stored differently.
    second = await submit_request(scene.live, scene.client.token, scene.message, scene.subject)
    engine = create_async_engine(servers.config(scene.live).database_url)
    try:
        async with engine.connect() as conn:
            again = (
                await conn.execute(
                    text("SELECT message FROM requests WHERE id = :id"),
                    {"id": ids.decode(second["id"], "Request", "id")},
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert again.startswith(PREFIX) and again != message
    # Through the API the texts read as written.
    client = (await call(scene.live, scene.admin, CLIENT, id=scene.client.id))["client"]
    assert {(e["node"]["message"], e["node"]["subject"]) for e in client["requests"]["edges"]} == {
        (scene.message, scene.subject)
    }


# Logs ------------------------------------------------------------------------------------------

# Client-side libraries of the test itself log what they send (gql logs whole requests).
CLIENT_LOGGERS = ("gql", "httpx", "httpcore", "websockets.client", "hpack")
# uvicorn's loggers do not propagate to the root logger, where caplog listens.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class ServerLogs:
    """caplog at DEBUG, plus uvicorn's own loggers (which do not propagate to the root logger)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self._saved: list[tuple[logging.Logger, logging.Handler, int]] = []

    def start(self) -> None:
        """Call in the test, once the server runs: caplog's handler is the test phase's, and
        uvicorn sets its loggers' levels when it starts."""
        self.caplog.set_level(logging.DEBUG)
        for name in SERVER_LOGGERS:
            logger = logging.getLogger(name)
            self._saved.append((logger, self.caplog.handler, logger.level))
            logger.addHandler(self.caplog.handler)
            logger.setLevel(logging.DEBUG)

    def restore(self) -> None:
        for logger, handler, level in self._saved:
            logger.removeHandler(handler)
            logger.setLevel(level)


@pytest.fixture
def server_logs(caplog: pytest.LogCaptureFixture) -> Iterator[ServerLogs]:
    found = ServerLogs(caplog)
    try:
        yield found
    finally:
        found.restore()


def leaks(records: list[logging.LogRecord], secrets: dict[str, str]) -> dict[str, list[str]]:
    """For each secret found in a server-side log record: the loggers that wrote it."""
    formatter = logging.Formatter("%(message)s")
    found: dict[str, set[str]] = {}
    for record in records:
        if record.name.startswith(CLIENT_LOGGERS):
            continue
        line = formatter.format(record)  # with the traceback, if any
        for label, secret in secrets.items():
            if secret in line:
                found.setdefault(label, set()).add(record.name)
    return {label: sorted(names) for label, names in found.items()}


async def test_logs_hold_no_message_text_e_mail_or_token(servers: Servers, server_logs: ServerLogs) -> None:
    live = servers.start()
    server_logs.start()
    scene = await scene_of(live)
    secrets = {
        "client e-mail": scene.client.email,
        "counsellor e-mail": scene.counsellor.email,
        "message": scene.message,
        "subject": scene.subject,
        "client token": scene.client.token,
        "counsellor token": scene.counsellor.token,
        "admin token": scene.admin,
        "password": PASSWORD,
        "admin password": ADMIN_PASSWORD,
    }
    # The counsellor follows their requests live; the client's next request reaches them there.
    async with raw_ws(live, token=scene.counsellor.token) as ws:
        await subscribe(ws, "1", "subscription { requestAssigned { id status message } }")
        await live.wait_for_bus_subscribers(2)
        secrets["short message"] = f"SOS {uuid.uuid4().hex[:6]}"
        await submit_request(live, scene.client.token, secrets["short message"])
        assert (await receive(ws))["payload"]["data"]["requestAssigned"]["message"] == secrets[
            "short message"
        ]

        # Failures of every kind: a wrong password, an unknown e-mail, a tampered token, a variable
        # of the wrong type carrying an e-mail, an over-long message.
        secrets["unknown e-mail"] = unique_email("unbekannt")
        for email in (scene.client.email, secrets["unknown e-mail"]):
            body = (
                await post_json(
                    live,
                    {
                        "query": "mutation ($e: String!, $p: String!) { login(email: $e, password: $p) { token } }",
                        "variables": {"e": email, "p": "wrong-password-9"},
                    },
                )
            ).json()
            assert body["errors"]
        secrets["tampered token"] = scene.client.token[:-4] + "AAAA"
        await post_json(live, {"query": "{ me { role } }"}, token=secrets["tampered token"])
        await post_json(
            live,
            {
                "query": "query ($x: Int!) { requests(first: $x) { totalCount } }",
                "variables": {"x": secrets["unknown e-mail"]},
            },
            token=scene.admin,
        )
        await post_json(
            live,
            {"query": SUBMIT, "variables": {"input": {"channel": "MAIL", "message": scene.message * 1000}}},
            token=scene.client.token,
        )
        secrets["phone"] = "+49 30 1234567"
        await call(
            live, scene.admin, UPDATE_PROFILE, input={"id": scene.client.id, "phone": secrets["phone"]}
        )
        # The password change ends the counsellor's session and closes this socket.
        secrets["new password"] = f"neues-Passwort-{uuid.uuid4().hex[:8]}"
        changed = await call(
            live,
            scene.counsellor.token,
            "mutation ($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { token } }",
            c=PASSWORD,
            n=secrets["new password"],
        )
        secrets["new token"] = changed["changePassword"]["token"]
        assert await close_code(ws) == 4401
    await call(live, secrets["new token"], "mutation { logout }")
    await call(live, scene.admin, EXPORT, id=scene.client.id)
    await call(live, scene.admin, ERASE, id=scene.client.id)

    records = server_logs.caplog.records
    assert any(r.name.startswith("uvicorn") for r in records), "uvicorn's logs were not captured"
    assert leaks(records, secrets) == {}
