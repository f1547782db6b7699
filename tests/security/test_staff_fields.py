"""What clients and other counsellors read of staff data and of each other's records, by example:
the presence fields of counsellors, the staff's notes in the history, the routing trace, the
records of another counsellor. Runs on both backends; the general rules are in
test_field_visibility.py."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from graphql import GraphQLObjectType, get_named_type
from strawberry.types import ExecutionResult

from domain.use_cases.clients import change_primary_counsellor
from domain.use_cases.requests import assign_request
from graph.schema import schema
from tests.security.scene import P_EMAIL, P_FIRST, P_LAST, Scene, context_of, query

NOT_FOUND = "NOT_FOUND"

PRESENCE_FIELDS = {"id", "displayName", "onlineStatus", "absent", "absenceMessage"}


def all_fields(type_name: str) -> str:
    """A selection of every field of an object type (objects as `{ __typename }`)."""
    found = schema._schema.get_type(type_name)
    assert isinstance(found, GraphQLObjectType)
    parts = []
    for name, definition in found.fields.items():
        nested = isinstance(get_named_type(definition.type), GraphQLObjectType)
        parts.append(f"{name} {{ __typename }}" if nested else name)
    return " ".join(parts)


async def error_code(scene: Scene, viewer: str, document: str, **variables: Any) -> str:
    result = await schema.execute(document, variables, context_value=context_of(scene, viewer))
    assert result.errors, result.data
    return "+".join(sorted({str((e.extensions or {}).get("code")) for e in result.errors}))


def _assert_presence_only(counsellor: dict[str, Any]) -> None:
    personal = {k: v for k, v in counsellor.items() if k not in PRESENCE_FIELDS and v is not None}
    assert not personal, f"a client reads more than the presence fields: {personal}"
    assert counsellor["displayName"] == "Paula"


def _assert_nothing_personal(data: object) -> None:
    text = json.dumps(data)
    for secret in (P_EMAIL, P_FIRST, P_LAST):
        assert secret not in text, f"{secret!r} reached a client"


async def test_a_client_reads_only_the_presence_fields_of_a_counsellor(scene: Scene) -> None:
    fields = all_fields("Counsellor")
    p = scene.gid("primary")
    reads = await query(
        scene,
        "client",
        f"""query ($p: ID!, $r: ID!) {{
          counsellor(id: $p) {{ {fields} }}
          node(id: $p) {{ ... on Counsellor {{ {fields} }} }}
          request(id: $r) {{ counsellor {{ {fields} }} }}
          me {{ client {{
            primaryCounsellor {{ {fields} }}
            primaryCounsellorHistory {{ newCounsellor {{ {fields} }} }}
            requests {{ edges {{ node {{ counsellor {{ {fields} }} }} }} }}
          }} }}
        }}""",
        p=p,
        r=scene.gid("request"),
    )
    client = reads["me"]["client"]
    seen = [
        reads["counsellor"],
        reads["node"],
        reads["request"]["counsellor"],
        client["primaryCounsellor"],
        client["primaryCounsellorHistory"][0]["newCounsellor"],
        *[e["node"]["counsellor"] for e in client["requests"]["edges"] if e["node"]["counsellor"]],
    ]
    assert len(seen) == 6
    for counsellor in seen:
        _assert_presence_only(counsellor)
    _assert_nothing_personal(reads)

    # The same over a subscription's initial state.
    context = context_of(scene, "client")
    stream = await schema.subscribe(
        f"subscription ($r: ID) {{ requestUpdated(id: $r) {{ counsellor {{ {fields} }} }} }}",
        {"r": scene.gid("request")},
        context_value=context,
    )
    assert not isinstance(stream, ExecutionResult)
    try:
        first = await asyncio.wait_for(anext(stream), timeout=2)
    finally:
        await stream.aclose()
    assert not first.errors and first.data is not None
    _assert_presence_only(first.data["requestUpdated"]["counsellor"])
    _assert_nothing_personal(first.data)

    # Staff read it all (the rule is about clients, not a field that is always empty).
    colleague = await query(
        scene, "other_counsellor", f"query ($p: ID!) {{ counsellor(id: $p) {{ {fields} }} }}", p=p
    )
    found = colleague["counsellor"]
    assert (found["email"], found["firstName"], found["lastName"]) == (P_EMAIL, P_FIRST, P_LAST)
    assert (found["role"], found["chatCapacity"]) == ("COUNSELLOR", 1)


async def test_counsellor_presence_carries_nothing_personal(scene: Scene) -> None:
    presence = schema._schema.get_type("CounsellorPresence")
    assert isinstance(presence, GraphQLObjectType)
    assert set(presence.fields) == {
        "counsellorId",
        "displayName",
        "onlineStatus",
        "chatAvailable",
        "mailAvailable",
        "absent",
        "absenceMessage",
    }
    document = f"{{ availability {{ primaryCounsellor {{ {all_fields('CounsellorPresence')} }} }} }}"
    mine = (await query(scene, "client", document))["availability"]["primaryCounsellor"]
    assert mine["counsellorId"] == scene.gid("primary")
    assert mine["displayName"] == "Paula"
    assert mine["mailAvailable"] is True  # P takes C1's mail whatever their capacity
    _assert_nothing_personal(mine)
    assert (await query(scene, "anonymous", document))["availability"]["primaryCounsellor"] is None
    theirs = (await query(scene, "other_client", document))["availability"]["primaryCounsellor"]
    assert theirs["counsellorId"] == scene.gid("other")  # their own primary, never another's


async def test_another_counsellor_sees_none_of_the_primarys_clients(scene: Scene) -> None:
    document = """query ($p: ID!) {
      counsellor(id: $p) { primaryClients { totalCount edges { node { id } } } }
      clients(filter: {primaryCounsellorId: $p}) { totalCount edges { node { id } } }
    }"""
    p = scene.gid("primary")

    def listed(data: dict[str, Any]) -> tuple[set[str], set[str]]:
        nested = data["counsellor"]["primaryClients"]
        overview = data["clients"]
        assert nested["totalCount"] == len(nested["edges"])
        assert overview["totalCount"] == len(overview["edges"])
        return {e["node"]["id"] for e in nested["edges"]}, {e["node"]["id"] for e in overview["edges"]}

    p_clients = {scene.gid("client"), scene.gid("invitee")}
    assert listed(await query(scene, "admin", document, p=p)) == (p_clients, p_clients)
    assert listed(await query(scene, "counsellor", document, p=p)) == (p_clients, p_clients)
    assert listed(await query(scene, "other_counsellor", document, p=p)) == (set(), set())

    # Once Q holds a request of C1, Q may see C1 (and only C1) among P's clients.
    await assign_request(scene.deps, scene.viewer("admin"), scene.raw["request"], scene.raw["other"])
    only_c1 = {scene.gid("client")}
    assert listed(await query(scene, "other_counsellor", document, p=p)) == (only_c1, only_c1)


async def test_a_client_sees_neither_reason_nor_changed_by_in_their_history(scene: Scene) -> None:
    note = "Interne Notiz: Klientin hat sich beschwert"
    await change_primary_counsellor(
        scene.deps, scene.viewer("admin"), scene.raw["client"], scene.raw["other"], note
    )
    document = """query ($c: ID!) { client(id: $c) { primaryCounsellorHistory {
      source reason changedBy { id email } previousCounsellor { id email } newCounsellor { id email }
    } } }"""
    c = scene.gid("client")
    own = (await query(scene, "client", document, c=c))["client"]["primaryCounsellorHistory"]
    assert [(h["source"], h["newCounsellor"]["id"]) for h in own] == [
        ("AUTOMATIC", scene.gid("primary")),
        ("MANUAL", scene.gid("other")),
    ]
    for entry in own:
        assert entry["reason"] is None and entry["changedBy"] is None
        for counsellor in (entry["previousCounsellor"], entry["newCounsellor"]):
            assert counsellor is None or counsellor["email"] is None
    assert note not in json.dumps(own)

    staff = (await query(scene, "admin", document, c=c))["client"]["primaryCounsellorHistory"]
    assert staff[1]["reason"] == note
    assert staff[1]["changedBy"] == {"id": scene.gid("admin"), "email": "admin@matrix.test"}


async def test_a_clients_requests_are_invisible_to_another_counsellor(scene: Scene) -> None:
    for name in ("request", "queued"):
        for document in (
            "query ($id: ID!) { request(id: $id) { id message } }",
            "query ($id: ID!) { node(id: $id) { id } }",
        ):
            assert await error_code(scene, "other_counsellor", document, id=scene.gid(name)) == NOT_FOUND
    listing = """query ($p: ID) {
      all: requests { totalCount edges { node { id } } }
      ofP: requests(filter: {counsellorId: $p}) { totalCount edges { node { id } } }
    }"""
    data = await query(scene, "other_counsellor", listing, p=scene.gid("primary"))
    assert [e["node"]["id"] for e in data["all"]["edges"]] == [scene.gid("other_request")]
    assert data["all"]["totalCount"] == 1
    assert data["ofP"] == {"totalCount": 0, "edges": []}

    c1_requests = {scene.gid("request"), scene.gid("queued")}
    mine = await query(scene, "client", listing, p=None)
    assert {e["node"]["id"] for e in mine["all"]["edges"]} == c1_requests
    theirs = await query(scene, "other_client", listing, p=None)
    assert {e["node"]["id"] for e in theirs["all"]["edges"]} == {scene.gid("other_request")}


async def test_the_routing_trace_is_for_staff_only(scene: Scene) -> None:
    document = """query ($id: ID!) {
      request(id: $id) { routingTrace { outcome } }
      requests { edges { node { routingTrace { outcome } } } }
    }"""
    r = scene.gid("request")
    own = await query(scene, "client", document, id=r)
    assert own["request"]["routingTrace"] is None
    assert all(e["node"]["routingTrace"] is None for e in own["requests"]["edges"])
    staff = await query(scene, "counsellor", document, id=r)
    assert staff["request"]["routingTrace"], "staff read the routing decision"
