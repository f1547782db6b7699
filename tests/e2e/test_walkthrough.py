"""The README walk-through, end to end: admin, counsellors, a client, a chat and a manual handover."""

from __future__ import annotations

import pytest

from tests.e2e.support import (
    PASSWORD,
    LiveServer,
    create_counsellor,
    register_client,
    set_online,
    submit,
    subscription,
)

pytestmark = pytest.mark.e2e

REQUEST_ASSIGNED = """
subscription {
  requestAssigned { id status channel routingReason message counsellor { id email } client { id } }
}"""

CHANGE_PRIMARY = """
mutation ($input: ChangePrimaryCounsellorInput!) {
  changePrimaryCounsellor(input: $input) { id primaryCounsellor { id } }
}"""

HISTORY_FIELDS = """
primaryCounsellorHistory {
  source reason changedAt
  previousCounsellor { id displayName email }
  newCounsellor { id displayName email onlineStatus }
  changedBy { id email }
}"""


async def test_readme_walk_through(server: LiveServer) -> None:
    # The admin from the configuration signs in and creates two counsellors.
    admin = await server.admin_token()
    me = await server.call(admin, "{ me { role counsellor { email onlineStatus chatCapacity } } }")
    assert me["me"]["role"] == "ADMIN"
    # The admin starts with the defaults of every new counsellor: nobody is routed to them.
    assert me["me"]["counsellor"]["onlineStatus"] == "OFFLINE"
    assert me["me"]["counsellor"]["chatCapacity"] == 1

    anna = await create_counsellor(server, admin, "Anna", login_now=False)
    ben = await create_counsellor(server, admin, "Ben", login_now=False)
    created = await server.call(
        admin,
        "query ($id: ID!) { counsellor(id: $id) { onlineStatus chatCapacity mailAvailability role } }",
        id=anna.id,
    )
    assert created["counsellor"] == {
        "onlineStatus": "OFFLINE",
        "chatCapacity": 1,
        "mailAvailability": "NONE",
        "role": "COUNSELLOR",
    }

    # Anna signs in herself and goes ONLINE.
    anna_token = await server.login(anna.email, PASSWORD)
    await set_online(server, anna_token, "ONLINE")

    # A client registers; nothing is routed yet.
    kim = await register_client(server, "Kim")
    before = await server.call(kim.token, "{ me { client { primaryCounsellor { id } } } }")
    assert before["me"]["client"]["primaryCounsellor"] is None

    # Anna follows the requests routed to her; Kim writes a chat.
    async with server.ws(anna_token) as anna_ws, subscription(server, anna_ws, REQUEST_ASSIGNED) as feed:
        submitted = await submit(server, kim.token, "CHAT", "Ich brauche Hilfe.")
        assert submitted["status"] == "ASSIGNED"
        assert submitted["routingReason"] == "FIRST_REQUEST"
        assert submitted["counsellor"]["id"] == anna.id

        pushed = (await feed.next())["requestAssigned"]
        assert pushed["id"] == submitted["id"]
        assert pushed["status"] == "ASSIGNED"
        assert pushed["channel"] == "CHAT"
        assert pushed["routingReason"] == "FIRST_REQUEST"
        assert pushed["message"] == "Ich brauche Hilfe."
        assert pushed["counsellor"] == {"id": anna.id, "email": anna.email}
        assert pushed["client"] == {"id": kim.id}

    # Anna became Kim's primary counsellor automatically; the admin hands Kim over to Ben.
    changed = await server.call(
        admin,
        CHANGE_PRIMARY,
        input={"clientId": kim.id, "counsellorId": ben.id, "reason": "Anna geht in Elternzeit."},
    )
    assert changed["changePrimaryCounsellor"] == {"id": kim.id, "primaryCounsellor": {"id": ben.id}}

    # Staff see the whole history, oldest first, with reason and who changed it.
    staff_view = await server.call(
        admin, f"query ($id: ID!) {{ client(id: $id) {{ {HISTORY_FIELDS} }} }}", id=kim.id
    )
    history = staff_view["client"]["primaryCounsellorHistory"]
    assert [entry["source"] for entry in history] == ["AUTOMATIC", "MANUAL"]
    automatic, manual = history
    assert automatic["previousCounsellor"] is None
    assert automatic["newCounsellor"]["id"] == anna.id
    assert automatic["newCounsellor"]["email"] == anna.email
    assert automatic["changedBy"] is None
    assert automatic["reason"] is None
    assert manual["previousCounsellor"]["id"] == anna.id
    assert manual["newCounsellor"]["id"] == ben.id
    assert manual["reason"] == "Anna geht in Elternzeit."
    admin_id = (await server.call(admin, "{ me { counsellor { id } } }"))["me"]["counsellor"]["id"]
    assert manual["changedBy"]["id"] == admin_id
    assert automatic["changedAt"] <= manual["changedAt"]

    # Kim sees the same entries, but neither the reason nor who changed it, nor any e-mail.
    own_view = await server.call(kim.token, f"{{ me {{ client {{ id {HISTORY_FIELDS} }} }} }}")
    own = own_view["me"]["client"]["primaryCounsellorHistory"]
    assert [entry["source"] for entry in own] == ["AUTOMATIC", "MANUAL"]
    for entry in own:
        assert entry["reason"] is None
        assert entry["changedBy"] is None
        assert entry["newCounsellor"]["email"] is None
        assert entry["newCounsellor"]["displayName"] in ("Anna", "Ben")
        assert entry["newCounsellor"]["onlineStatus"] in ("ONLINE", "OFFLINE")
    assert own[0]["newCounsellor"]["id"] == anna.id
    assert own[1]["previousCounsellor"] == {"id": anna.id, "displayName": "Anna", "email": None}
    assert own[1]["newCounsellor"]["id"] == ben.id

    # The chat already assigned stays with Anna; the next one follows the new primary (Ben, once online).
    requests = await server.call(admin, "{ requests { edges { node { id counsellor { id } } } } }")
    assert [e["node"]["counsellor"]["id"] for e in requests["requests"]["edges"]] == [anna.id]
    await set_online(server, await server.login(ben.email, PASSWORD), "ONLINE")
    second = await submit(server, kim.token, "CHAT", "Noch eine Frage.")
    assert second["counsellor"]["id"] == ben.id
    assert second["routingReason"] == "PRIMARY_COUNSELLOR"
