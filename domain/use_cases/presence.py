"""Presence that reflects reality: ONLINE only while a session shows signs of life."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from domain.events import CounsellorStateChanged
from domain.model import Counsellor, Viewer
from domain.use_cases import Deps
from domain.use_cases.counsellors import visible_counsellor
from domain.visibility import require_staff


async def heartbeat(deps: Deps, viewer: Viewer) -> Counsellor:
    """A counsellor's session says it is alive; their presence clock starts again."""
    me = require_staff(viewer)
    async with deps.uow() as uow:
        await uow.counsellors.touch([me], deps.clock.now())
        counsellor = await visible_counsellor(uow, viewer, me)
        await uow.commit()
    return counsellor


async def keep_alive(deps: Deps, counsellor_ids: Sequence[int]) -> None:
    """Signs of life of counsellors with an open subscription (one statement for all)."""
    if not counsellor_ids:
        return
    async with deps.uow() as uow:
        await uow.counsellors.touch(counsellor_ids, deps.clock.now())
        await uow.commit()


async def lapse_silent_counsellors(deps: Deps) -> list[Counsellor]:
    """Set OFFLINE everyone silent for longer than presenceTimeoutSeconds; each exactly once.

    Their assigned chats stay with them; they are offered nothing new.
    """
    async with deps.uow() as uow:
        settings = await uow.settings.get()
        silent_since = deps.clock.now() - timedelta(seconds=settings.presence_timeout_seconds)
        lapsed = await uow.counsellors.lapse(silent_since)
        for counsellor in lapsed:
            uow.record(CounsellorStateChanged(counsellor))
        await uow.commit()
    return lapsed


async def sign_off(deps: Deps, counsellor_id: int) -> None:
    """Logging out sets a counsellor OFFLINE at once (only that column: a change made meanwhile stays)."""
    async with deps.uow() as uow:
        counsellor = await uow.counsellors.sign_off(counsellor_id)
        if counsellor is None:
            return
        uow.record(CounsellorStateChanged(counsellor))
        await uow.commit()
