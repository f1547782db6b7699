"""The simplest round trip through the real database of each configuration."""

from domain.model import Channel, MailAvailability, OnlineStatus, Role, RoutingReason, StaffRole, Viewer
from domain.use_cases import Deps
from domain.use_cases.accounts import register_client
from domain.use_cases.counsellors import NewCounsellor, add_counsellor, set_online_status
from domain.use_cases.requests import submit_request


async def test_first_chat_goes_to_the_online_counsellor_who_becomes_primary(deps: Deps) -> None:
    admin = await add_counsellor(
        deps, NewCounsellor("a@x.org", "password-123", "Admin", role=StaffRole.ADMIN)
    )
    anna = await add_counsellor(deps, NewCounsellor("anna@x.org", "password-123", "Anna"))
    as_admin = Viewer(role=Role.ADMIN, counsellor_id=admin.id)
    await set_online_status(deps, as_admin, OnlineStatus.ONLINE, anna.id)
    client = await register_client(deps, "Kim", "kim@x.org", "password-123", None)

    request = await submit_request(deps, client, Channel.CHAT, "Hallo", None, None)

    assert request.counsellor_id == anna.id
    assert request.routing_reason is RoutingReason.FIRST_REQUEST
    async with deps.uow(write=False) as uow:
        stored = await uow.clients.get(client.client_id or 0)
        loaded = await uow.counsellors.get(anna.id)
    assert stored is not None and stored.primary_counsellor_id == anna.id
    assert loaded is not None and loaded.active_chat_count == 1
    assert loaded.mail_availability is MailAvailability.NONE
