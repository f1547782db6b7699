"""Availability: would a chat or mail from this viewer be answered now? (No personal data.)"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.model import ANONYMOUS, Channel, Counsellor, Request, RequestStatus, Settings, Viewer
from domain.policy import may_take, primary_takes, route_request
from domain.ports import UnitOfWork
from domain.use_cases import Deps
from domain.use_cases.queue import QueueStatus, queue_status
from domain.use_cases.routing import CANDIDATES
from domain.visibility import CounsellorView, counsellor_view


@dataclass(frozen=True)
class Presence:
    """What a client may know of one counsellor (equal presences read the same to them)."""

    shown: CounsellorView
    chat_available: bool
    mail_available: bool


@dataclass(frozen=True)
class AvailabilityView:
    chat_available: bool
    mail_available: bool
    primary: Presence | None = None
    # The client's oldest QUEUED request and where it stands.
    queued: Request | None = None
    queue: QueueStatus | None = None


def presence(counsellor: Counsellor, primary_id: int | None) -> Presence:
    """Whether `counsellor` would take a new chat or mail from a client of `primary_id`."""

    def takes(channel: Channel) -> bool:
        if counsellor.id == primary_id:
            return primary_takes(counsellor, channel)
        return may_take(counsellor, channel, primary_id)

    return Presence(counsellor_view(ANONYMOUS, counsellor), takes(Channel.CHAT), takes(Channel.MAIL))


def delivers(
    channel: Channel,
    primary: Counsellor | None,
    candidates: Sequence[Counsellor],
    fallback: Counsellor | None,
    settings: Settings,
    now: datetime,
) -> bool:
    """Whether a new request on `channel` would be delivered now: a probe request that is not stored,
    routed by the policy itself. `candidates` may hold anyone: the policy picks who is free."""
    probe = Request(
        id=0, client_id=0, channel=channel, status=RequestStatus.QUEUED, message=None, created_at=now
    )
    return route_request(probe, primary, candidates, fallback, settings, now).assigns


async def _would_deliver(uow: UnitOfWork, deps: Deps, channel: Channel, primary: Counsellor | None) -> bool:
    settings = await uow.settings.get()
    primary_id = primary.id if primary else None
    candidates = await uow.counsellors.candidates(channel, primary_id, CANDIDATES)
    fallback = None
    if channel is Channel.MAIL and settings.fallback_counsellor_id is not None:
        fallback = await uow.counsellors.get(settings.fallback_counsellor_id)
    return delivers(channel, primary, candidates, fallback, settings, deps.clock.now())


async def availability(deps: Deps, viewer: Viewer) -> AvailabilityView:
    """The viewer's availability by the routing policy itself: a probe request that is not stored."""
    async with deps.uow(write=False) as uow:
        primary = None
        if viewer.is_client and viewer.client_id is not None:
            client = await uow.clients.get(viewer.client_id)
            if client is not None and client.primary_counsellor_id is not None:
                primary = await uow.counsellors.get(client.primary_counsellor_id)
        chat = await _would_deliver(uow, deps, Channel.CHAT, primary)
        mail = await _would_deliver(uow, deps, Channel.MAIL, primary)
        queued = await uow.requests.oldest_queued_of(viewer.client_id) if viewer.client_id else None
    status = await queue_status(deps, queued) if queued else None
    return AvailabilityView(chat, mail, presence(primary, primary.id) if primary else None, queued, status)


async def everyone_and_settings(deps: Deps) -> tuple[list[Counsellor], Settings]:
    """Every counsellor and the settings: what a process's availability board starts from."""
    async with deps.uow(write=False) as uow:
        return await uow.counsellors.filtered(None, None), await uow.settings.get()


@dataclass(frozen=True)
class Standing:
    """What availability depends on that is the client's own: their primary and queued request."""

    primary_id: int | None = None
    queued: Request | None = None
    queue: QueueStatus | None = None


async def standing(deps: Deps, viewer: Viewer) -> Standing:
    """The viewer's primary and oldest QUEUED request with its place (nothing for non-clients)."""
    if not viewer.is_client or viewer.client_id is None:
        return Standing()
    async with deps.uow(write=False) as uow:
        client = await uow.clients.get(viewer.client_id)
        queued = await uow.requests.oldest_queued_of(viewer.client_id)
    primary_id = client.primary_counsellor_id if client is not None else None
    status = await queue_status(deps, queued) if queued else None
    return Standing(primary_id, queued, status)
