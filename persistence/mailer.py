"""The mail outbox's sender and its transports: SMTP (aiosmtplib) or .eml files under data/outbox/."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiosmtplib

from domain.errors import ServiceUnavailable
from domain.model import OutgoingMail
from domain.ports import MailTransport
from domain.stopping import cancel_and_wait
from domain.use_cases import Deps
from domain.use_cases.mailing import deliver_due_mails

log = logging.getLogger(__name__)


def message_of(mail: OutgoingMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.recipient
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(mail.created_at)
    message["Message-ID"] = make_msgid(idstring=f"stamm-{mail.id}")
    message.set_content(mail.body)
    return message


@dataclass(frozen=True)
class SmtpServer:
    """Where STAMM_SMTP_URL points: smtp://user:pass@host:port (smtps:// for implicit TLS);
    `starttls` upgrades a plain connection (None: when the server offers it)."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    use_tls: bool = False
    starttls: bool | None = None

    @classmethod
    def from_url(cls, url: str, starttls: bool | None = None) -> SmtpServer:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("STAMM_SMTP_URL must look like smtp://user:pass@host:port")
        tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname,
            port=parts.port or (465 if tls else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_tls=tls,
            starttls=False if tls else starttls,
        )


class SmtpTransport:
    def __init__(self, server: SmtpServer, sender: str, timeout: float = 30.0) -> None:
        self._server = server
        self._sender = sender
        self._timeout = timeout

    async def send(self, mail: OutgoingMail) -> None:
        s = self._server
        await aiosmtplib.send(
            message_of(mail, self._sender),
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            use_tls=s.use_tls,
            start_tls=s.starttls,
            timeout=self._timeout,
        )
        log.info("mail %s sent over SMTP", mail.id)


class FileTransport:
    """Without SMTP: each mail as an .eml file (for development; the log names the file only)."""

    def __init__(self, folder: Path, sender: str) -> None:
        self._folder = folder
        self._sender = sender

    async def send(self, mail: OutgoingMail) -> None:
        path = self._folder / f"{mail.created_at:%Y%m%dT%H%M%S}-{mail.id}.eml"
        data = bytes(message_of(mail, self._sender))
        await asyncio.to_thread(self._write, path, data)
        log.info("mail %s written to %s", mail.id, path)

    def _write(self, path: Path, data: bytes) -> None:
        self._folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(path)


class MailSender:
    """Sends due mails every `period` seconds (and when woken), in every process: the claims in
    the database keep two processes from sending one mail twice."""

    def __init__(self, deps: Deps, transport: MailTransport, period: float = 5.0) -> None:
        self._deps = deps
        self._transport = transport
        self._period = period
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    def wake(self) -> None:
        self._wake.set()

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            try:
                while await deliver_due_mails(self._deps, self._transport):
                    pass
            except asyncio.CancelledError:
                raise
            except ServiceUnavailable:
                log.warning("mail round skipped: the database is unreachable")
            except Exception:
                log.warning("mail round failed; trying again", exc_info=True)
            self._wake.clear()
            try:
                async with asyncio.timeout(self._period):
                    await self._wake.wait()
            except TimeoutError:
                pass
