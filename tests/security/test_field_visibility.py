"""Every field at every depth obeys "Who sees what": the rules of field_rules.py, for every field the
schema serves, checked on what each viewer reads through every path (routing.md; docs/decisions.md
on redacted clients). Runs on both backends, with the scene of the permission matrix."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import get_named_type

from domain.use_cases.accounts import login
from domain.use_cases.clients import ClientProfile, change_primary_counsellor, update_client_profile
from domain.use_cases.requests import assign_request, close_request
from tests.security.field_rules import (
    FIELD_RULES,
    FOLDER,
    KEPT,
    SEEN,
    SERVED,
    STAFF,
    UNLIMITED,
    fields_with,
    is_empty,
    objects,
    reachable_fields,
    selection,
)
from tests.security.scene import (
    KINDS,
    PASSWORD,
    VIEWERS,
    Scene,
    Subscription,
    context_of,
    query,
    subscribed,
)


def test_every_field_a_viewer_can_reach_has_a_rule() -> None:
    ruled = {(type_name, name) for type_name, fields in FIELD_RULES.items() for name in fields}
    reachable = reachable_fields()
    assert not reachable - ruled, f"fields without a visibility rule: {sorted(reachable - ruled)}"
    assert not ruled - reachable, f"rules for fields the schema does not serve: {sorted(ruled - reachable)}"


# What each viewer of the scene may see (routing.md): the admin all; P their primary clients C1 and
# the invitee, and C1's requests; Q their client C2 and C2's request; each client themselves.
CLIENTS_SEEN = {
    "anonymous": set(),
    "client": {"client"},
    "other_client": {"other_client"},
    "counsellor": {"client", "invitee"},
    "other_counsellor": {"other_client"},
    "inactive": set(),
    "admin": {"client", "other_client", "invitee"},
}
REQUESTS_SEEN = {
    "anonymous": set(),
    "client": {"request", "queued"},
    "other_client": {"other_request"},
    "counsellor": {"request", "queued"},
    "other_counsellor": {"other_request"},
    "inactive": set(),
    "admin": {"request", "queued", "other_request"},
}
LISTS = (
    "me",
    "requests",
    "clients",
    "counsellors",
    "availability",
    "settings",
    "auditLog",
    "monitoringTopics",
)
# The client folder's records: staff who see C1 reach them, through C1 and by id.
FOLDER_SEEN = {"counsellor", "admin"}
REFUSED = {"FORBIDDEN", "UNAUTHENTICATED", "NOT_FOUND"}


async def everything_read_by(scene: Scene, viewer: str) -> list[dict[str, Any]]:
    """Every object the viewer reads through every query, each with every field at every depth."""
    documents = []
    for root in LISTS:
        returned = get_named_type(SERVED.query_type.fields[root].type)  # type: ignore[union-attr]
        documents.append((f"{{ {root} {{ {selection(returned.name)} }} }}", {}))
    # One fragment per id, of the id's own kind: fields of one name may differ in type between
    # kinds (MonitoringTopic.active is non-null, Counsellor.active is not), which one selection refuses.
    for name, kind in KINDS.items():
        fragment = f"... on {kind} {{ {selection(kind)} }}"
        documents.append((f"query ($id: ID!) {{ node(id: $id) {{ {fragment} }} }}", {"id": scene.gid(name)}))
    found: list[dict[str, Any]] = []
    for document, variables in documents:
        result = await UNLIMITED.execute(document, variables, context_value=context_of(scene, viewer))
        codes = {(e.extensions or {}).get("code") for e in result.errors or []}
        assert codes <= REFUSED, [e.formatted for e in result.errors or []]
        found.extend(objects(result.data))
    return found


@pytest.mark.parametrize("viewer", VIEWERS)
async def test_whatever_a_viewer_reads_obeys_the_field_rules(scene: Scene, viewer: str) -> None:
    names = {scene.gid(name): name for name in KINDS}
    reached = await everything_read_by(scene, viewer)
    for found in reached:
        kind = found["__typename"]
        if kind == "Client" and names[found["id"]] not in CLIENTS_SEEN[viewer]:
            hidden = fields_with("Client", SEEN) | fields_with("Client", FOLDER)
            assert all(is_empty(found.get(name)) for name in hidden), found
        if kind == "Client" and viewer in ("client", "other_client"):
            assert all(found.get(name) is None for name in fields_with("Client", FOLDER)), found
        if kind in ("Note", "MonitoringEntry"):
            assert viewer in FOLDER_SEEN, f"{viewer} reads {found}"
        if kind == "Request":
            assert names[found["id"]] in REQUESTS_SEEN[viewer], found["id"]
            assert found.get("client") is None or names[found["client"]["id"]] in CLIENTS_SEEN[viewer]
        if viewer in ("client", "other_client"):
            staff_only = {
                name: found[name] for name in fields_with(kind, STAFF) if found.get(name) is not None
            }
            assert not staff_only, f"a client reads staff fields of a {kind}: {staff_only}"

    # The checks above bite: each viewer reached the records they may see, and staff read staff fields.
    kinds = {found["__typename"] for found in reached}
    if viewer not in ("anonymous", "inactive"):
        assert {"Counsellor", "Client", "Request", "PrimaryCounsellorChange"} <= kinds, kinds
    if viewer in ("counsellor", "other_counsellor", "admin"):
        assert any(found["__typename"] == "Counsellor" and found["email"] for found in reached)
        assert any(found["__typename"] == "Request" and found["routingTrace"] for found in reached)
    if viewer in FOLDER_SEEN:
        notes = {names[found["id"]] for found in reached if found["__typename"] == "Note"}
        assert notes == {"note", "admin_note"} and any(f.get("text") == "Notiz von P." for f in reached)
        assert any(
            found["__typename"] == "MonitoringEntry" and found["note"] == "Privat." for found in reached
        )
    seen = {names[found["id"]] for found in reached if found["__typename"] in ("Client", "Request")}
    assert seen == CLIENTS_SEEN[viewer] | REQUESTS_SEEN[viewer]


CHANGES = f"""subscription {{ primaryCounsellorChanged {{
  {selection("PrimaryCounsellorChange")}
  client {{ {selection("Client")} }}
}} }}"""


async def test_the_previous_primary_is_sent_the_change_with_the_client_redacted(scene: Scene) -> None:
    deps, admin = scene.deps, scene.viewer("admin")
    # P no longer holds C1's request, so once C1 moves to Q, P may not see C1 any more.
    await close_request(deps, scene.viewer("primary"), scene.raw["request"])
    profile = ClientProfile("Clara", "clara@matrix.test", "Clarissa", "Klar", "+49 30 1234567", "de")
    await update_client_profile(deps, admin, scene.raw["client"], profile)
    await login(deps, "clara@matrix.test", PASSWORD, None)

    async with (
        subscribed(scene, "counsellor", CHANGES) as before,
        subscribed(scene, "other_counsellor", CHANGES) as after,
    ):
        assert isinstance(before, Subscription) and isinstance(after, Subscription)
        await change_primary_counsellor(deps, admin, scene.raw["client"], scene.raw["other"], "Vertretung")
        old = await before.payload("primaryCounsellorChanged")
        new = await after.payload("primaryCounsellorChanged")

    # The change itself is for both: they are staff, and each could see C1 before or after it.
    for change in (old, new):
        assert change["previousCounsellor"]["id"] == scene.gid("primary")
        assert change["newCounsellor"]["id"] == scene.gid("other")
        assert (change["reason"], change["changedBy"]["id"]) == ("Vertretung", scene.gid("admin"))
    redacted, full = old["client"], new["client"]
    assert {name: redacted[name] for name in fields_with("Client", KEPT)} == {
        name: full[name] for name in fields_with("Client", KEPT)
    }
    assert redacted["id"] == scene.gid("client") and redacted["displayName"] == "Clara"
    leaked = {name: redacted[name] for name in fields_with("Client", SEEN) if not is_empty(redacted[name])}
    assert not leaked, f"the previous primary reads {leaked}"
    # The new primary reads every one of those fields: the redaction hides real data.
    # (deletedAt and erasureDueAt are null for every client that is not deleted.)
    unset = {"deletedAt", "erasureDueAt"}
    assert not [name for name in fields_with("Client", SEEN) - unset if is_empty(full[name])]
    assert "+49 30 1234567" not in str(old)

    missing = await UNLIMITED.execute(
        "query ($id: ID!) { client(id: $id) { id } }",
        {"id": scene.gid("client")},
        context_value=context_of(scene, "counsellor"),
    )
    assert [(e.extensions or {}).get("code") for e in missing.errors or []] == ["NOT_FOUND"]


REQUEST_UPDATES = f"subscription {{ requestUpdated {{ {selection('Request')} }} }}"


async def test_a_request_shows_its_client_as_null_to_a_counsellor_who_may_not_see_them(
    scene: Scene,
) -> None:
    deps, admin, r = scene.deps, scene.viewer("admin"), scene.raw["request"]
    await assign_request(deps, admin, r, scene.raw["other"])  # Q handles C1's request for a while
    async with subscribed(scene, "other_counsellor", REQUEST_UPDATES) as updates:
        assert isinstance(updates, Subscription)
        await assign_request(deps, admin, r, scene.raw["primary"])  # and hands it back
        sent = await updates.payload("requestUpdated")
    assert sent["id"] == scene.gid("request") and sent["message"] == "Ich brauche Hilfe."
    assert sent["client"] is None

    document = "query ($id: ID!) { request(id: $id) { id message client { id email } } }"
    read = await query(scene, "other_counsellor", document, id=scene.gid("request"))
    assert read["request"]["message"] == "Ich brauche Hilfe." and read["request"]["client"] is None
    by_p = await query(scene, "counsellor", document, id=scene.gid("request"))
    assert by_p["request"]["client"] == {"id": scene.gid("client"), "email": "clara@matrix.test"}


async def test_a_handover_shows_the_changer_the_client_but_nothing_else_they_may_not_see(
    scene: Scene,
) -> None:
    document = f"""mutation ($input: ChangePrimaryCounsellorInput!) {{
      changePrimaryCounsellor(input: $input) {{
        {selection("Client")}
        primaryCounsellor {{ primaryClients {{ edges {{ node {{ id }} }} }} }}
      }}
    }}"""
    handover = {"clientId": scene.gid("invitee"), "counsellorId": scene.gid("other"), "reason": "Übergabe"}
    result = await UNLIMITED.execute(
        document, {"input": handover}, context_value=context_of(scene, "counsellor")
    )
    assert not result.errors and result.data is not None
    shown = result.data["changePrimaryCounsellor"]
    assert shown["email"] == "ida@matrix.test" and shown["primaryCounsellor"]["id"] == scene.gid("other")
    assert shown["primaryCounsellorHistory"][-1]["reason"] == "Übergabe"
    # Of Q's primary clients, P reads only the one just handed over, not C2.
    listed = {edge["node"]["id"] for edge in shown["primaryCounsellor"]["primaryClients"]["edges"]}
    assert listed == {scene.gid("invitee")}
    assert shown["primaryCounsellor"]["primaryClients"]["totalCount"] == 1

    # Afterwards P may no longer see the invitee.
    after = await UNLIMITED.execute(
        "query ($id: ID!) { client(id: $id) { id } }",
        {"id": scene.gid("invitee")},
        context_value=context_of(scene, "counsellor"),
    )
    assert [(e.extensions or {}).get("code") for e in after.errors or []] == ["NOT_FOUND"]
