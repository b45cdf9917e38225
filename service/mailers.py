"""Mail delivery adapters: SMTP, or .eml files in the data dir when no server is set."""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from service.domain.mail import needs_smtputf8
from service.domain.ports import MailDeliveryError, MailUndeliverable

NO_SMTPUTF8 = (
    "the mail server does not accept international addresses (SMTPUTF8); ask the mail provider "
    "to enable it, or ask the person for an address without letters such as ä, ö or å before "
    "the @"
)


def _refused_for_good(code: int, message: bytes) -> bool:
    """Tell whether a refused recipient will be refused whatever we do (RFC 5321, RFC 3463).

    A 5xx reply is permanent, except a security or policy one (5.7.x, 530: relaying denied,
    authentication required): that is our configuration, and mail sent after it is put right
    must go, so it is retried like a temporary failure.
    """
    if code < 500 or code == 530:
        return False
    return not message.lstrip().startswith(b"5.7.")


class SmtpMailer:
    """Deliver over SMTP (smtp:// with optional STARTTLS, or smtps://)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        """Parse the CONSENT_SMTP_URL."""
        parts = urlsplit(url)
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname or "localhost"
        self._port = parts.port or (465 if self._tls else 25)
        self._user = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        query = parse_qs(parts.query)
        self._starttls = query.get("starttls", ["0"])[0].lower() in ("1", "true", "yes")
        self._timeout = timeout

    def deliver(self, message_id: str, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Send the message; a refusal or an unreachable server raises MailDeliveryError.

        A message that needs SMTPUTF8 goes with it when the server offers it; a server that
        does not, or a recipient refused for good, raises MailUndeliverable.
        """
        headers = raw.split(b"\r\n\r\n", 1)[0]
        international = needs_smtputf8([sender, *recipients]) or not headers.isascii()
        try:
            client: smtplib.SMTP
            if self._tls:
                client = smtplib.SMTP_SSL(
                    self._host, self._port, timeout=self._timeout,
                    context=ssl.create_default_context(),
                )
            else:
                client = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
            with client:
                if self._starttls:
                    client.starttls(context=ssl.create_default_context())
                if self._user:
                    client.login(self._user, self._password or "")
                client.ehlo_or_helo_if_needed()
                options = []
                if international:
                    if not client.has_extn("smtputf8"):
                        raise MailUndeliverable(NO_SMTPUTF8)
                    options.append("SMTPUTF8")
                if not raw.isascii() and client.has_extn("8bitmime"):
                    options.append("BODY=8BITMIME")
                refused = client.sendmail(sender, list(recipients), raw, mail_options=options)
                if refused:
                    raise smtplib.SMTPRecipientsRefused(refused)
        except smtplib.SMTPRecipientsRefused as exc:
            # The server's words may quote the address; keep only the code.
            replies = list(exc.recipients.values())
            first = replies[0][0] if replies else ""
            if replies and all(_refused_for_good(c, text) for c, text in replies):
                raise MailUndeliverable(
                    f"the receiving server refused the recipient for good ({first}); "
                    "check the address with the person"
                ) from None
            raise MailDeliveryError(f"SMTPRecipientsRefused {first}".rstrip()) from None
        except (smtplib.SMTPException, OSError) as exc:
            # The server's words may quote the address; keep only the kind and code.
            code = getattr(exc, "smtp_code", None)
            raise MailDeliveryError(f"{type(exc).__name__}{f' {code}' if code else ''}") from None


class EmlMailer:
    """Write each message as an .eml file named after its Message-ID."""

    def __init__(self, folder: Path) -> None:
        """Remember the outbox folder."""
        self._folder = folder

    def path_for(self, message_id: str) -> Path:
        """Return the file a message is written to."""
        safe = message_id.strip("<>").replace("/", "_").replace("@", "_at_")
        return self._folder / f"{safe}.eml"

    def deliver(self, message_id: str, sender: str, recipients: Sequence[str], raw: bytes) -> None:
        """Write the message atomically; writing it again replaces the same file."""
        self._folder.mkdir(parents=True, exist_ok=True)
        target = self.path_for(message_id)
        fd, tmp = tempfile.mkstemp(dir=self._folder, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
            os.replace(tmp, target)
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            raise MailDeliveryError(f"cannot write {target.name}: {exc.strerror}") from None
