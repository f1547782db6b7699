"""A local SMTP server (aiosmtpd) on a free loopback port that keeps every mail it receives."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from tests.support.server import free_port


class Inbox:
    def __init__(self) -> None:
        self.messages: list[bytes] = []

    async def handle_DATA(self, server: object, session: Session, envelope: Envelope) -> str:
        assert isinstance(envelope.content, bytes)
        self.messages.append(envelope.content)
        return "250 OK"

    def to(self, address: str) -> list[str]:
        """The decoded bodies of the mails sent to `address`, oldest first."""
        found = [message_from_bytes(m) for m in self.messages]
        return [m.get_payload(decode=True).decode() for m in found if m["To"] == address]  # type: ignore[union-attr]


@contextmanager
def local_smtp() -> Iterator[tuple[Inbox, int]]:
    """A running SMTP server: its inbox and its port; stopped on exit."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()
