"""Sending the mail outbox: claim due mails, send each, mark it sent or due again later."""

from __future__ import annotations

import logging
from datetime import timedelta

from domain.ports import MailTransport
from domain.use_cases import Deps

log = logging.getLogger(__name__)
# A claimed mail is another sender's again after this long (its sender died mid-send).
LEASE_SECONDS = 120.0
MAX_BACKOFF_SECONDS = 3600


def backoff_seconds(attempts: int) -> int:
    """30 s after the first failure, doubling, at most an hour: a mail is never given up."""
    return int(min(30 * 2 ** min(attempts, 16), MAX_BACKOFF_SECONDS))


async def deliver_due_mails(deps: Deps, transport: MailTransport, limit: int = 20) -> int:
    """One round: how many mails were sent. Claims are committed before sending, so a parallel
    sender (another process) never takes the same mail; a send that fails is tried again later."""
    async with deps.uow() as uow:
        claimed = await uow.mails.claim(deps.clock.now(), LEASE_SECONDS, limit)
        await uow.commit()
    sent = 0
    for mail in claimed:
        try:
            await transport.send(mail)
        except Exception as exc:
            wait = backoff_seconds(mail.attempts)
            # Never the content or the address: the mail carries a sign-in link.
            log.warning("mail %s not sent (%s); trying again in %s s", mail.id, type(exc).__name__, wait)
            async with deps.uow() as uow:
                await uow.mails.failed(mail, deps.clock.now() + timedelta(seconds=wait))
                await uow.commit()
            continue
        async with deps.uow() as uow:
            await uow.mails.sent(mail, deps.clock.now())
            await uow.commit()
        sent += 1
    return sent
