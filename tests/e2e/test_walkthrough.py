"""The README walk-through, run exactly as printed, against a server with the demo data.

The operations are the README's ```graphql blocks, in order; each step's `Headers:` line says
which token goes with it. Only the placeholders the README tells the reader to paste
(`<ADMIN_TOKEN>`, `<KIM_ID>`, ...) are replaced, by the values the earlier steps printed.

The demo is seeded as `make run` seeds it: `python -m graph.main` with STAMM_DEMO=1 on a new
database (its printed logins are checked); the walk-through then runs on a server of this
process on that database, so that the test sees when the subscription of step 4 listens.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import _database
from tests.e2e.support import LiveServer, e2e_config, start_server, stop_server, subscription
from tests.services import backends
from tests.support.server import REPO_ROOT, ServerProcess

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "README.md"
SECTION = "## A walk-through in GraphiQL"
BLOCK = re.compile(r"```graphql\n(?P<body>.*?)\n\s*```", re.DOTALL)
HEADERS = re.compile(r'Headers: `(?:none|\{"Authorization": "Bearer (?P<token><[A-Z_]+>)"\})`')
PLACEHOLDER = re.compile(r"<[A-Z_]+>")


@dataclass(frozen=True)
class Step:
    operation: str
    token: str | None  # the placeholder of the token in the step's headers, None for no headers


def walk_through_steps(readme: str) -> list[Step]:
    """The walk-through's operations in order, each with the token its step names."""
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    steps = []
    start = 0
    for block in BLOCK.finditer(section):
        headers = HEADERS.findall(section[start : block.start()])
        assert len(headers) == 1, f"the step before {block['body'][:60]!r} names its headers {headers}"
        lines = block["body"].splitlines()
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        steps.append(Step("\n".join(line[indent:] for line in lines), headers[0] or None))
        start = block.end()
    return steps


def paste(operation: str, values: dict[str, str]) -> str:
    """The operation with the placeholders an earlier step printed; fails on any not known yet."""
    missing = set(PLACEHOLDER.findall(operation)) - set(values)
    assert not missing, f"{missing} are not printed by an earlier step"
    return PLACEHOLDER.sub(lambda found: values[found[0]], operation)


def test_every_step_names_its_headers_and_one_whole_operation() -> None:
    steps = walk_through_steps(README.read_text())
    kinds = [step.operation.split(None, 1)[0] for step in steps]
    assert kinds == [
        *("mutation", "mutation", "mutation", "subscription", "mutation", "mutation", "mutation"),
        *("query", "mutation", "query", "query"),
        *("mutation", "mutation", "mutation", "mutation", "query", "query", "query"),
        *("query", "mutation", "mutation", "query"),
    ]
    assert [step.token for step in steps] == [
        *(None, "<ADMIN_TOKEN>", None, "<CHRIS_TOKEN>", "<CHRIS_TOKEN>", None, "<KIM_TOKEN>"),
        *("<ADMIN_TOKEN>", "<ADMIN_TOKEN>", "<ADMIN_TOKEN>", "<KIM_TOKEN>"),
        *("<ADMIN_TOKEN>",) * 5,
        "<KIM_TOKEN>",
        "<ADMIN_TOKEN>",
        *("<ADMIN_TOKEN>", "<ADMIN_TOKEN>", "<ADMIN_TOKEN>", "<ADMIN_TOKEN>"),
    ]


def _demo_settings(database_url: str, folder: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "BROADCAST_URL": "memory://",
        "STAMM_DEMO": "1",
        "STAMM_MIGRATE": "1",
        "STAMM_DATA_DIR": str(folder),
    }


@pytest.fixture(params=backends())
def demo_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveServer]:
    for database_url in _database(request.param, tmp_path):
        seeding = ServerProcess("demo", _demo_settings(database_url, tmp_path), tmp_path / "demo.log")
        seeding.start()
        seeding.stop()
        log = seeding.log()
        for login in ("admin@demo.stamm", "anna@demo.stamm", "ben@demo.stamm"):
            assert f"{login} / demo-password-1" in log, log
        port = seeding.port
        config = e2e_config(database_url, request.param.bus_url, port, tmp_path)
        live = start_server(dataclasses.replace(config, admin_email=None, admin_password=None), port)
        try:
            yield live
        finally:
            stop_server(live)


async def test_readme_walk_through(demo_server: LiveServer) -> None:
    live = demo_server
    steps = iter(walk_through_steps(README.read_text()))
    values: dict[str, str] = {}

    async def run(expected_token: str | None = None) -> dict[str, Any]:
        step = next(steps)
        assert step.token == expected_token, step
        token = values[step.token] if step.token else None
        return await live.call(token, paste(step.operation, values))

    # 1. The admin logs in.
    admin = (await run())["login"]
    assert admin["me"] == {"role": "ADMIN"}
    values["<ADMIN_TOKEN>"] = admin["token"]

    # 2. The admin creates Chris.
    chris = (await run("<ADMIN_TOKEN>"))["createCounsellor"]
    assert {k: chris[k] for k in ("displayName", "onlineStatus", "chatCapacity")} == {
        "displayName": "Chris",
        "onlineStatus": "OFFLINE",
        "chatCapacity": 1,
    }

    # 3. Chris logs in.
    login = (await run())["login"]
    assert login["me"] == {"role": "COUNSELLOR"}
    values["<CHRIS_TOKEN>"] = login["token"]

    # 4. Chris watches for requests; the subscription listens before the next step.
    watch = next(steps)
    assert watch.token == "<CHRIS_TOKEN>"
    async with (
        live.ws(values["<CHRIS_TOKEN>"]) as chris_ws,
        subscription(live, chris_ws, paste(watch.operation, values)) as assigned,
    ):
        # 5. Chris goes online.
        online = (await run("<CHRIS_TOKEN>"))["setOnlineStatus"]
        assert online == {"displayName": "Chris", "onlineStatus": "ONLINE"}

        # 6. Kim registers.
        kim = (await run())["registerClient"]
        values["<KIM_TOKEN>"] = kim["token"]
        values["<KIM_ID>"] = kim["me"]["client"]["id"]

        # 7. Kim's first chat goes to Chris, the only counsellor ONLINE; the subscription shows it.
        submitted = (await run("<KIM_TOKEN>"))["submitRequest"]
        assert submitted["status"] == "ASSIGNED"
        assert submitted["routingReason"] == "FIRST_REQUEST"
        assert submitted["counsellor"] == {"displayName": "Chris"}
        pushed = (await assigned.next())["requestAssigned"]
        assert pushed == {
            "id": submitted["id"],
            "status": "ASSIGNED",
            "routingReason": "FIRST_REQUEST",
            "channel": "CHAT",
            "message": "Hallo, ich brauche Hilfe.",
            "client": {"displayName": "Kim"},
        }

    # 8. The admin finds Anna's id; the demo counsellors are OFFLINE, Chris is not.
    listed = (await run("<ADMIN_TOKEN>"))["counsellors"]
    status = {c["displayName"]: c["onlineStatus"] for c in listed}
    assert status["Anna Berger"] == status["Ben Okafor"] == "OFFLINE"
    values["<ANNA_ID>"] = next(c["id"] for c in listed if c["displayName"] == "Anna Berger")

    # 9. The admin hands Kim over to Anna.
    changed = (await run("<ADMIN_TOKEN>"))["changePrimaryCounsellor"]
    assert changed == {"primaryCounsellor": {"displayName": "Anna Berger"}}

    # 10. Staff see both entries, with the reason and who changed it.
    client = (await run("<ADMIN_TOKEN>"))["client"]
    assert client["displayName"] == "Kim"
    history = client["primaryCounsellorHistory"]
    assert [{k: v for k, v in entry.items() if k != "changedAt"} for entry in history] == [
        {
            "source": "AUTOMATIC",
            "previousCounsellor": None,
            "newCounsellor": {"displayName": "Chris"},
            "changedBy": None,
            "reason": None,
        },
        {
            "source": "MANUAL",
            "previousCounsellor": {"displayName": "Chris"},
            "newCounsellor": {"displayName": "Anna Berger"},
            "changedBy": {"displayName": "Demo Admin"},
            "reason": "Spricht Türkisch",
        },
    ]

    # 11. Kim sees the same entries without the reason and who changed it.
    own = (await run("<KIM_TOKEN>"))["me"]["client"]["primaryCounsellorHistory"]
    assert [(e["source"], e["reason"], e["changedBy"]) for e in own] == [
        ("AUTOMATIC", None, None),
        ("MANUAL", None, None),
    ]
    assert [e["changedAt"] for e in own] == [e["changedAt"] for e in history]

    # 12. A note on Kim.
    note = (await run("<ADMIN_TOKEN>"))["addNote"]
    assert note["author"] == {"displayName": "Demo Admin"}
    # 13., 14. The catalogue: a category and an option of it.
    values["<CATEGORY_ID>"] = (await run("<ADMIN_TOKEN>"))["addMonitoringTopic"]["id"]
    topic = (await run("<ADMIN_TOKEN>"))["addMonitoringTopic"]
    assert topic["parent"] == {"name": "Belastungen"}
    values["<TOPIC_ID>"] = topic["id"]
    # 15. A documented contact.
    entry = (await run("<ADMIN_TOKEN>"))["addMonitoringEntry"]
    assert entry["topics"] == [{"name": "Schule und Ausbildung"}] and entry["durationMinutes"] == 45
    # 16. Staff read the folder.
    folder = (await run("<ADMIN_TOKEN>"))["client"]
    assert folder["notes"]["totalCount"] == 1 and folder["notes"]["edges"][0]["node"]["text"] == note["text"]
    assert folder["monitoringEntries"]["edges"][0]["node"]["outcome"] == "Folgetermin vereinbart"
    # 17. Kim reads none of it.
    assert (await run("<KIM_TOKEN>"))["me"]["client"] == {
        "displayName": "Kim",
        "notes": None,
        "monitoringEntries": None,
    }
    # 18. One contact: withheld.
    assert (await run("<ADMIN_TOKEN>"))["monitoringStatistics"] == [
        {
            "month": "2025-01",
            "channel": "CHAT",
            "topic": {"name": "Schule und Ausbildung"},
            "contacts": None,
            "suppressed": True,
        }
    ]
    # 19. The member list: Kim registered, signed in, one open request (held by Chris).
    members = (await run("<ADMIN_TOKEN>"))["clients"]
    (kim_row,) = [e["node"] for e in members["edges"] if e["node"]["displayName"] == "Kim"]
    assert kim_row["invitationStatus"] == "REGISTERED" and kim_row["accountStatus"] == "ACTIVE"
    assert kim_row["lastLoginAt"] and kim_row["lastRequestAt"] and kim_row["openRequestCount"] == 1

    # 20. Kim is blocked: her token ends, the primary stays.
    blocked = (await run("<ADMIN_TOKEN>"))["blockClient"]
    assert blocked == {
        "displayName": "Kim",
        "accountStatus": "BLOCKED",
        "primaryCounsellor": {"displayName": "Anna Berger"},
    }
    refused = await live.call_error(values["<KIM_TOKEN>"], "{ me { role } }")
    assert refused[0]["extensions"]["code"] == "UNAUTHENTICATED"

    # 21. And unblocked.
    assert (await run("<ADMIN_TOKEN>"))["unblockClient"] == {"accountStatus": "ACTIVE"}

    # 22. The staff list.
    listed_staff = (await run("<ADMIN_TOKEN>"))["staff"]
    assert listed_staff["totalCount"] == 4  # the demo's admin, Anna and Ben, and Chris
    roles = {
        e["node"]["displayName"]: (e["node"]["role"], e["node"]["invitationStatus"])
        for e in listed_staff["edges"]
    }
    assert roles["Demo Admin"] == ("ADMIN", "REGISTERED") and roles["Chris"] == ("COUNSELLOR", "REGISTERED")
    assert next(steps, None) is None, "the README has steps this test does not know"
