"""/metrics of a live server: the series move with what happens, and no label carries personal data."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from graph.metrics import (
    CHANNELS,
    DECISIONS,
    EVENT_KINDS,
    GAP_CAUSES,
    OPERATION_TYPES,
    OTHER,
    OUTCOMES,
    ROUTES,
    STATUS_CLASSES,
)
from tests.e2e.support import (
    LiveServer,
    create_counsellor,
    e2e_config,
    free_port,
    raw_post,
    register_client,
    set_online,
    start_server,
    stop_server,
    submit,
    subscription,
)
from tests.support.feeds import field_is
from tests.support.waiting import eventually

pytestmark = pytest.mark.e2e

AVAILABILITY = "subscription { availabilityChanged { chatAvailable } }"
COUNSELLOR_AVAILABILITY = (
    "subscription ($id: ID) { counsellorAvailabilityChanged(counsellorId: $id) { id onlineStatus } }"
)
SUBSCRIPTION_FIELDS = (
    "counsellorAvailabilityChanged",
    "availabilityChanged",
    "requestAssigned",
    "primaryCounsellorChanged",
    "requestUpdated",
)
# Every value a label may take; `le` is a histogram's bucket bound (a number).
ALLOWED = {
    "kind": {*EVENT_KINDS, OTHER},
    "cause": {*GAP_CAUSES, OTHER},
    "field": {*SUBSCRIPTION_FIELDS, OTHER},
    "outcome": {*OUTCOMES, OTHER},
    "reason": {*DECISIONS, OTHER},
    "channel": {*CHANNELS, OTHER},
    "type": {*OPERATION_TYPES, OTHER},
    "route": {*ROUTES, OTHER},
    "status": {*STATUS_CLASSES, OTHER},
}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(live: LiveServer, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.get(f"{live.base_url}/metrics", headers=headers)


def samples(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: Samples, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


async def metrics(live: LiveServer) -> Samples:
    response = await scrape(live)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


async def test_series_move_with_what_happens(server: LiveServer) -> None:
    before = await metrics(server)
    assert value(before, "stamm_websockets_open") == 0
    assert value(before, "stamm_subscriptions_open", field="availabilityChanged") == 0
    admin = await server.admin_token()
    counsellor = await create_counsellor(server, admin, "Metra", chatCapacity=1)
    await set_online(server, counsellor.token, "ONLINE")
    first, second = await register_client(server, "Eins"), await register_client(server, "Zwei")

    async with (
        server.ws() as widget,
        server.ws(admin) as staff,
        subscription(server, widget, AVAILABILITY) as widget_feed,
        subscription(server, staff, COUNSELLOR_AVAILABILITY, id=counsellor.id) as staff_feed,
    ):
        await widget_feed.wait_for(field_is("availabilityChanged", chatAvailable=True))
        await staff_feed.wait_for(field_is("counsellorAvailabilityChanged", onlineStatus="ONLINE"))
        assigned = await submit(server, first.token)
        queued = await submit(server, second.token)  # the only chat slot is taken
        assert (assigned["routingReason"], queued["status"]) == ("FIRST_REQUEST", "QUEUED")
        await widget_feed.wait_for(field_is("availabilityChanged", chatAvailable=False))
        await server.call_error(counsellor.token, 'mutation { closeRequest(id: "nope") { id } }')
        await raw_post(server.graphql_url, {"query": "query Broken { me { "})

        during = await metrics(server)
        assert value(during, "stamm_websockets_open") >= 2
        assert value(during, "stamm_subscriptions_open", field="availabilityChanged") == 1
        assert value(during, "stamm_subscriptions_open", field="counsellorAvailabilityChanged") == 1
        assert value(during, "stamm_events_published_total", kind="RequestChanged") >= 2
        assert value(during, "stamm_events_received_total", kind="CounsellorStateChanged") >= 1
        assert value(during, "stamm_fanout_seconds_count") >= 2
        assert value(during, "stamm_routing_decisions_total", reason="FIRST_REQUEST") == 1
        assert value(during, "stamm_routing_decisions_total", reason="QUEUED") == 1
        assert value(during, "stamm_queue_wait_seconds_count", channel="CHAT") == 1
        assert value(during, "stamm_queue_length", channel="CHAT") == 1
        assert value(during, "stamm_queue_length", channel="MAIL") == 0
        assert value(during, "stamm_bus_connected") == 1
        assert value(during, "stamm_graphql_operations_total", type="mutation", outcome="ok") >= 6
        assert value(during, "stamm_graphql_operations_total", type="mutation", outcome="error") == 1
        assert value(during, "stamm_graphql_operations_total", type="other", outcome="invalid") == 1
        assert value(during, "stamm_graphql_operation_seconds_count", type="mutation") >= 7
        assert value(during, "stamm_http_responses_total", route="/graphql", status="2xx") >= 7

    async def subscriptions_ended() -> Samples | None:
        found = await metrics(server)
        open_now = value(found, "stamm_subscriptions_open", field="availabilityChanged") + value(
            found, "stamm_subscriptions_open", field="counsellorAvailabilityChanged"
        )
        return found if open_now == 0 and value(found, "stamm_websockets_open") == 0 else None

    after = await eventually(subscriptions_ended, "subscriptions and websockets closed")
    assert value(after, "stamm_graphql_operations_total", type="subscription", outcome="ok") == 2
    await server.call(
        counsellor.token, "mutation ($id: ID!) { closeRequest(id: $id) { id } }", id=assigned["id"]
    )

    async def dispatched() -> Samples | None:
        found = await metrics(server)
        return found if value(found, "stamm_dispatch_requests_moved_total") >= 1 else None

    moved = await eventually(dispatched, "the queued chat moved by a dispatch run")
    assert value(moved, "stamm_dispatch_runs_total", outcome="ok") >= 1
    assert value(moved, "stamm_queue_length", channel="CHAT") == 0


def _without_values(text: str) -> str:
    """The exposition text without each sample's value (and timestamp): `name{labels}` per line."""
    kept = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            kept.append(line)
        elif "}" in line:
            kept.append(line[: line.rindex("}") + 1])
        else:
            kept.append(line.split(" ", 1)[0])
    return "\n".join(kept)


async def test_no_label_carries_personal_data(server: LiveServer) -> None:
    """A scenario full of names, e-mails, ids, texts and client-chosen operation names: every label
    value of the output is one of the fixed values, and none of those words appears anywhere."""
    admin = await server.admin_token()
    counsellor = await create_counsellor(server, admin, "PersonaliaZebulon", chatCapacity=1)
    await set_online(server, counsellor.token, "ONLINE")
    client = await register_client(server, "QuirinVertraulich")
    secret_text = "Mein Geheimnis Nummer 4711"
    request = await submit(server, client.token, message=secret_text)
    operation_name = "Quirin_Vertraulich_Zebulon"
    await raw_post(server.graphql_url, {"query": f"query {operation_name} {{ me {{ role }} }}"}, client.token)
    await raw_post(server.graphql_url, {"query": f"subscription {operation_name} {{ nope }}"}, client.token)
    async with server.ws(client.token) as session, subscription(server, session, AVAILABILITY) as feed:
        await feed.next()
        text = (await scrape(server)).text

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            for label, found in sample.labels.items():
                if label == "le":
                    float(found)  # a bucket bound
                    continue
                assert label in ALLOWED, f"{sample.name} has an unexpected label {label}"
                assert found in ALLOWED[label], f"{sample.name}{{{label}={found!r}}}"
    words = [
        counsellor.email,
        client.email,
        "Personalia",
        "Zebulon",
        "Quirin",
        "Vertraulich",
        "Geheimnis",
        "4711",
        operation_name,
        counsellor.id,
        client.id,
        request["id"],
        counsellor.token,
        client.token,
    ]
    # Sample values are numbers that change from run to run (a duration sum such as 0.0247113):
    # a word made of digits could match inside one by chance, and no text can hide in one. So the
    # words are looked for in everything but the values: names, labels, HELP and TYPE lines.
    leaked = [word for word in words if word in _without_values(text)]
    assert leaked == []


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[LiveServer]:
    """A server (SQLite, memory bus: the guard does not depend on the backend) with a metrics token."""
    port = free_port()
    config = e2e_config(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}", "memory://", port, tmp_path)
    live = start_server(dataclasses.replace(config, metrics_token="scrape-token-1"), port)
    try:
        yield live
    finally:
        stop_server(live)


async def test_a_metrics_token_guards_the_endpoint(guarded: LiveServer) -> None:
    assert (await scrape(guarded)).status_code == 401
    assert (await scrape(guarded, "wrong-token")).status_code == 401
    allowed = await scrape(guarded, "scrape-token-1")
    assert allowed.status_code == 200
    assert "stamm_websockets_open" in allowed.text
