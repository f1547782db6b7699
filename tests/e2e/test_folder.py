"""The client folder through a real server on each database: notes, monitoring and the CSV export,
as a staff app and a client use them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.notes import MAX_NOTE
from tests.e2e.support import (
    LiveServer,
    codes,
    create_counsellor,
    register_client,
)

pytestmark = pytest.mark.e2e

CREATE_CLIENT = "mutation ($input: CreateClientInput!) { createClient(input: $input) { id } }"
FOLDER = """
query ($id: ID!, $after: String) {
  client(id: $id) {
    notes(first: 2, after: $after) {
      totalCount pageInfo { hasNextPage endCursor }
      edges { node { id text author { id } createdAt editedAt client { id } } }
    }
    monitoringEntries { totalCount edges { node { id durationMinutes outcome note topics { name } counsellor { id } } } }
  }
}"""
ADD_NOTE = "mutation ($input: AddNoteInput!) { addNote(input: $input) { id text } }"
ADD_ENTRY = """
mutation ($input: AddMonitoringEntryInput!) {
  addMonitoringEntry(input: $input) { id channel topics { name parent { name } } }
}"""
STATISTICS = """
query ($from: DateTime!, $to: DateTime!) {
  monitoringStatistics(from: $from, to: $to) { month channel topic { name } contacts suppressed }
}"""
MIXED = "Grüße😀ß"


def text_of(length: int) -> str:
    return "".join(MIXED[i % len(MIXED)] for i in range(length))


async def a_client_of(live: LiveServer, token: str, name: str) -> str:
    data = await live.call(token, CREATE_CLIENT, input={"displayName": name})
    found: str = data["createClient"]["id"]
    return found


async def test_notes_for_the_staff_who_see_the_client_never_for_the_client(server: LiveServer) -> None:
    admin = await server.admin_token()
    p = await create_counsellor(server, admin, "Paula")
    q = await create_counsellor(server, admin, "Quentin")
    kim = await register_client(server, "Kim")
    await server.call(
        admin,
        "mutation ($input: ChangePrimaryCounsellorInput!) { changePrimaryCounsellor(input: $input) { id } }",
        input={"clientId": kim.id, "counsellorId": p.id},
    )

    longest = text_of(MAX_NOTE)
    first = (await server.call(p.token, ADD_NOTE, input={"clientId": kim.id, "text": longest}))["addNote"]
    assert first["text"] == longest
    second = (await server.call(admin, ADD_NOTE, input={"clientId": kim.id, "text": "Von der Leitung."}))[
        "addNote"
    ]
    too_long = await server.call_error(p.token, ADD_NOTE, input={"clientId": kim.id, "text": longest + "x"})
    assert codes(too_long) == ["BAD_USER_INPUT"] and too_long[0]["extensions"]["field"] == "input.text"

    read = (await server.call(p.token, FOLDER, id=kim.id))["client"]["notes"]
    assert read["totalCount"] == 2 and [e["node"]["id"] for e in read["edges"]] == [second["id"], first["id"]]
    assert (
        read["edges"][1]["node"]["author"]["id"] == p.id
        and read["edges"][1]["node"]["client"]["id"] == kim.id
    )

    # The client reads their profile, never the folder; Q does not even find the client.
    own = await server.call(
        kim.token, "{ me { client { id notes { totalCount } monitoringEntries { totalCount } } } }"
    )
    assert own["me"]["client"] == {"id": kim.id, "notes": None, "monitoringEntries": None}
    assert codes(await server.call_error(q.token, FOLDER, id=kim.id)) == ["NOT_FOUND"]

    edit = "mutation ($input: EditNoteInput!) { editNote(input: $input) { id text editedAt } }"
    assert codes(await server.call_error(p.token, edit, input={"id": second["id"], "text": "P."})) == [
        "FORBIDDEN"
    ]
    assert codes(await server.call_error(q.token, edit, input={"id": first["id"], "text": "Q."})) == [
        "NOT_FOUND"
    ]
    edited = (await server.call(p.token, edit, input={"id": first["id"], "text": "Kürzer."}))["editNote"]
    assert edited["text"] == "Kürzer." and edited["editedAt"] is not None
    deleted = await server.call(admin, "mutation ($id: ID!) { deleteNote(id: $id) }", id=first["id"])
    assert deleted["deleteNote"] == first["id"]
    audit = await server.call(admin, "{ auditLog(first: 10) { edges { node { action } } } }")
    actions = [e["node"]["action"] for e in audit["auditLog"]["edges"]]
    assert actions[:4] == ["NOTE_DELETED", "NOTE_EDITED", "NOTE_ADDED", "NOTE_ADDED"]


async def csv_export(live: LiveServer, token: str | None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.get(f"{live.base_url}/exports/monitoring.csv", params=params, headers=headers)


async def test_monitoring_from_the_catalogue_to_the_csv_for_funders(server: LiveServer) -> None:
    admin = await server.admin_token()
    p = await create_counsellor(server, admin, "Paula")
    add_topic = (
        "mutation ($input: AddMonitoringTopicInput!) { addMonitoringTopic(input: $input) { id name } }"
    )
    # A category name a spreadsheet would run as a formula: the CSV must defuse it.
    category = (await server.call(admin, add_topic, input={"name": '=HYPERLINK("x")'}))["addMonitoringTopic"]
    alcohol = await server.call(admin, add_topic, input={"name": "Alkohol", "parentId": category["id"]})
    gambling = await server.call(admin, add_topic, input={"name": "Glücksspiel", "parentId": category["id"]})
    alcohol_id, gambling_id = alcohol["addMonitoringTopic"]["id"], gambling["addMonitoringTopic"]["id"]
    assert codes(await server.call_error(p.token, add_topic, input={"name": "Von P"})) == ["FORBIDDEN"]
    catalogue = await server.call(
        p.token, "{ monitoringTopics { name active children { name parent { name } } } }"
    )
    assert [c["name"] for c in catalogue["monitoringTopics"][0]["children"]] == ["Alkohol", "Glücksspiel"]

    at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    contact: dict[str, Any] = {"contactAt": at, "channel": "CHAT", "durationMinutes": 45}
    clients = [await a_client_of(server, p.token, f"Klient {n}") for n in range(5)]
    for client_id in clients:
        await server.call(
            p.token, ADD_ENTRY, input=contact | {"clientId": client_id, "topicIds": [alcohol_id]}
        )
    entry = await server.call(
        p.token,
        ADD_ENTRY,
        input=contact
        | {
            "clientId": clients[0],
            "channel": "MAIL",
            "topicIds": [gambling_id],
            "note": "Privat.",
            "outcome": "-1",
        },
    )
    bad = await server.call_error(
        p.token, ADD_ENTRY, input=contact | {"clientId": clients[0], "topicIds": [category["id"]]}
    )
    assert codes(bad) == ["BAD_USER_INPUT"] and bad[0]["extensions"]["field"] == "input.topicIds"
    long = await server.call_error(
        p.token,
        ADD_ENTRY,
        input=contact | {"clientId": clients[0], "topicIds": [alcohol_id], "durationMinutes": 1441},
    )
    assert codes(long) == ["BAD_USER_INPUT"] and long[0]["extensions"]["field"] == "input.durationMinutes"
    folder = (await server.call(p.token, FOLDER, id=clients[0]))["client"]["monitoringEntries"]
    assert folder["totalCount"] == 2 and folder["edges"][0]["node"]["counsellor"]["id"] == p.id
    assert {e["node"]["note"] for e in folder["edges"]} == {None, "Privat."}
    update = "mutation ($input: UpdateMonitoringEntryInput!) { updateMonitoringEntry(input: $input) { id durationMinutes } }"
    changed = await server.call(
        admin, update, input={"id": entry["addMonitoringEntry"]["id"], "durationMinutes": 60}
    )
    assert changed["updateMonitoringEntry"]["durationMinutes"] == 60

    window = {
        "from": (datetime.now(UTC) - timedelta(days=3)).isoformat(),
        "to": datetime.now(UTC).isoformat(),
    }
    assert codes(await server.call_error(p.token, STATISTICS, **window)) == ["FORBIDDEN"]
    rows = (await server.call(admin, STATISTICS, **window))["monitoringStatistics"]
    # Every contact was an hour ago: one month, whichever it is.
    assert {(r["channel"], r["topic"]["name"], r["contacts"], r["suppressed"]) for r in rows} == {
        ("CHAT", "Alkohol", 5, False),
        ("MAIL", "Glücksspiel", None, True),
    }

    day = {
        "from": (datetime.now(UTC) - timedelta(days=3)).date().isoformat(),
        "to": (datetime.now(UTC) + timedelta(days=1)).date().isoformat(),
    }
    exported = await csv_export(server, admin, **day)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    assert exported.headers["content-disposition"].startswith("attachment;")
    table = list(csv.reader(io.StringIO(exported.text)))
    assert table[0] == ["month", "channel", "category", "topic", "contacts", "suppressed"]
    assert sorted(row[1:] for row in table[1:]) == [
        ["CHAT", '\'=HYPERLINK("x")', "Alkohol", "5", "false"],
        ["MAIL", '\'=HYPERLINK("x")', "Glücksspiel", "", "true"],
    ]
    assert "Privat" not in exported.text

    assert (await csv_export(server, None, **day)).status_code == 401
    assert (await csv_export(server, p.token, **day)).status_code == 403
    assert (await csv_export(server, "forged.token.value", **day)).status_code == 401
    bad_date = await csv_export(server, admin, **{"from": "31.01.2025", "to": day["to"]})
    assert bad_date.status_code == 400 and "from is not an ISO 8601 date" in bad_date.text
    missing = await csv_export(server, admin, **{"from": day["from"]})
    assert missing.status_code == 400 and "to is required" in missing.text
