"""The mail outbox's sender on both databases: retries with backoff, never a mail lost, never one
sent twice by two processes; SMTP delivery to a local aiosmtpd server; .eml files without SMTP."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from email import message_from_bytes
from pathlib import Path

import pytest

from domain.model import OutgoingMail
from domain.use_cases.clients import ClientProfile, create_client, invite_client
from domain.use_cases.mailing import backoff_seconds, deliver_due_mails
from persistence.mailer import FileTransport, SmtpServer, SmtpTransport
from tests.integration.conftest import Process, World
from tests.support.smtp import Inbox, local_smtp


class Recording:
    """A transport that records what it sends; fails while `failing` is set."""

    def __init__(self, failing: bool = False, delay: float = 0.0) -> None:
        self.sent: list[OutgoingMail] = []
        self.failing = failing
        self.delay = delay

    async def send(self, mail: OutgoingMail) -> None:
        await asyncio.sleep(self.delay)  # a slow server: the other sender runs meanwhile
        if self.failing:
            raise ConnectionRefusedError("no mail server")
        self.sent.append(mail)


async def invite(world: World, n: int) -> None:
    profile = ClientProfile(display_name=f"Ina {n}", email=f"ina{n}@example.org")
    created = await create_client(world.deps, world.admin, profile, None)
    await invite_client(world.deps, world.admin, created.id)


async def test_a_failed_send_is_tried_again_after_a_backoff_and_sent_once(world: World) -> None:
    await invite(world, 1)
    down = Recording(failing=True)
    assert await deliver_due_mails(world.deps, down) == 0
    up = Recording()
    assert await deliver_due_mails(world.deps, up) == 0  # not due yet
    world.clock.advance(backoff_seconds(0))
    assert await deliver_due_mails(world.deps, up) == 1
    assert await deliver_due_mails(world.deps, up) == 0
    assert [m.recipient for m in up.sent] == ["ina1@example.org"]
    assert backoff_seconds(1) == 2 * backoff_seconds(0) and backoff_seconds(40) == 3600


async def test_two_processes_sending_at_once_send_each_mail_exactly_once(
    world: World, processes: list[Process]
) -> None:
    for n in range(12):
        await invite(world, n)
    transports = [Recording(delay=0.01), Recording(delay=0.01)]

    async def drain(process: Process, transport: Recording) -> None:
        while await deliver_due_mails(process.deps, transport, limit=3):
            pass

    await asyncio.gather(*(drain(p, t) for p, t in zip(processes, transports, strict=True)))

    sent = Counter(m.id for t in transports for m in t.sent)
    assert len(sent) == 12 and set(sent.values()) == {1}


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with local_smtp() as found:
        yield found


async def test_an_invitation_is_delivered_over_smtp(world: World, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    await invite(world, 7)
    transport = SmtpTransport(SmtpServer.from_url(f"smtp://127.0.0.1:{port}"), "Stamm <noreply@stamm.test>")

    assert await deliver_due_mails(world.deps, transport) == 1

    (raw,) = inbox.messages
    message = message_from_bytes(raw)
    assert message["To"] == "ina7@example.org" and message["From"] == "Stamm <noreply@stamm.test>"
    assert "/invitation?token=" in message.get_payload(decode=True).decode()  # type: ignore[union-attr]


async def test_without_smtp_mails_are_written_as_eml_files(world: World, tmp_path: Path) -> None:
    await invite(world, 3)
    assert await deliver_due_mails(world.deps, FileTransport(tmp_path / "outbox", "noreply@stamm.test")) == 1
    (written,) = (tmp_path / "outbox").glob("*.eml")
    assert message_from_bytes(written.read_bytes())["To"] == "ina3@example.org"


def test_smtp_urls_name_host_port_and_credentials() -> None:
    server = SmtpServer.from_url("smtp://mailer%40org:s3cret@mail.example.org:2525", starttls=True)
    assert (server.host, server.port, server.username, server.password) == (
        "mail.example.org",
        2525,
        "mailer@org",
        "s3cret",
    )
    assert server.starttls is True and not server.use_tls
    assert SmtpServer.from_url("smtps://mail.example.org").use_tls
    with pytest.raises(ValueError):
        SmtpServer.from_url("http://mail.example.org")
