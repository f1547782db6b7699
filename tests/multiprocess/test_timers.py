"""Timers with two API processes: each lapse and each accept timeout takes effect exactly once.

Both processes run the timers every second over the same database; a timer that fired in both
would show as a second ACCEPT_TIMEOUT for the same holder, a counsellor excluded twice, or a
load that went below what the counsellor holds.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from persistence.tables import counsellors, requests
from tests.multiprocess.support import Api, Cluster, Staff, needs_services, row_id
from tests.support.waiting import eventually

pytestmark = needs_services

SETTINGS = "mutation ($input: UpdateSettingsInput!) { updateSettings(input: $input) { __typename } }"


async def test_accept_timeouts_and_presence_lapses_fire_once_across_two_processes(
    cluster: Cluster, api: Api, admin: Staff, db: AsyncEngine
) -> None:
    first = await api.create_counsellor(cluster.a, admin, "Timer A", capacity=1, online=True)
    second = await api.create_counsellor(cluster.b, admin, "Timer B", capacity=1, online=True)
    holders = {row_id(first.id, "Counsellor"), row_id(second.id, "Counsellor")}
    client = (await api.register_clients(cluster, 1, "Timer client "))[0]
    await api.call(cluster.a, admin.token, SETTINGS, input={"acceptTimeoutSeconds": 1})
    submitted = await api.submit(cluster.b, client)
    request_id = row_id(submitted["id"], "Request")
    assert submitted["status"] == "ASSIGNED"

    async def row() -> Any:
        async with db.connect() as conn:
            return (await conn.execute(select(requests).where(requests.c.id == request_id))).one()

    async def offered_to_both() -> bool:
        return set((await row()).excluded_ids) == holders

    # Nobody accepts: it is taken back from one holder, offered to the other, taken back again.
    await eventually(offered_to_both, "the request was taken back from both holders")

    # Presence: nobody keeps their sessions alive; each goes OFFLINE once, loads untouched.
    await api.call(
        cluster.b, admin.token, SETTINGS, input={"presenceTimeoutSeconds": 1, "acceptTimeoutSeconds": None}
    )

    async def all_offline() -> bool:
        async with db.connect() as conn:
            found = await conn.execute(
                select(counsellors.c.online_status).where(counsellors.c.id.in_(holders))
            )
            return {status for (status,) in found} == {"OFFLINE"}

    # The lapses come from later timer rounds of both processes: by then a second firing of an
    # accept timeout would have happened too.
    await eventually(all_offline, "both holders went OFFLINE")
    stored = await row()
    timeouts = [s for s in stored.trace if s["outcome"] == "ACCEPT_TIMEOUT"]
    assert sorted(stored.excluded_ids) == sorted(holders)
    assert sorted(s["counsellor_id"] for s in timeouts) == sorted(holders)
    assert stored.status == "QUEUED" and stored.counsellor_id is None
    async with db.connect() as conn:
        loads = await conn.execute(
            select(counsellors.c.active_chat_count).where(counsellors.c.id.in_(holders))
        )
        assert [load for (load,) in loads] == [0, 0]
