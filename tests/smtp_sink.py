"""A real SMTP server on loopback (aiosmtpd) that tests can make refuse or stall."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    """Return a TCP port on loopback that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Envelope:
    """What the client said around one accepted message: MAIL FROM, RCPT TO and their options."""

    mail_from: str
    rcpt_tos: list[str]
    mail_options: list[str]


class RecordingHandler:
    """Keep every accepted message; refuse or stall when told."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []
        self.refuse = False
        # An SMTP reply to every RCPT TO, e.g. "550 5.1.1 No such user" (None: accept).
        self.refuse_recipients: str | None = None
        self.stall_seconds = 0.0
        self.entered_data = threading.Event()
        self.transactions = 0
        self._lock = threading.Lock()

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          mail_options: list[str]) -> str:
        with self._lock:
            self.transactions += 1
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          rcpt_options: list[str]) -> str:
        if self.refuse_recipients:
            return self.refuse_recipients
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.entered_data.set()
        if self.refuse:
            return "451 4.3.0 Try again later"
        if self.stall_seconds:
            time.sleep(self.stall_seconds)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append(Envelope(envelope.mail_from, list(envelope.rcpt_tos),
                                           list(envelope.mail_options)))
        return "250 OK"


def addr_specs(message: EmailMessage, name: str) -> list[str]:
    """Return the addresses of a header as a UTF-8 mail reader shows them.

    Python's parser leaves the UTF-8 bytes of an RFC 6532 address as surrogate escapes (it
    decodes Subject and display names, not addresses); a mail reader shows the letters.
    """
    return [address.addr_spec.encode("utf-8", "surrogateescape").decode("utf-8")
            for address in message[name].addresses]


class SmtpSink:
    """An SMTP server on 127.0.0.1 and what it received.

    smtputf8: offer the SMTPUTF8 extension (RFC 6531) and take UTF-8 addresses; off, the
    server is one that does not, as many still are (aiosmtpd's default).
    """

    def __init__(self, port: int = 0, *, smtputf8: bool = False) -> None:
        self.handler = RecordingHandler()
        self.port = port or free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port,
                                     enable_SMTPUTF8=smtputf8)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self) -> list[EmailMessage]:
        return self.handler.messages

    @property
    def envelopes(self) -> list[Envelope]:
        return self.handler.envelopes

    def stop(self) -> None:
        self.controller.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return self.messages
            time.sleep(0.05)
        raise AssertionError(f"expected {count} message(s), got {len(self.messages)}")
