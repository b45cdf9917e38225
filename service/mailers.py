"""Mail delivery adapters: SMTP, or .eml files in the data dir when no server is set."""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from service.domain.ports import MailDeliveryError


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
        """Send the message; a refusal or an unreachable server raises MailDeliveryError."""
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
                refused = client.sendmail(sender, list(recipients), raw)
                if refused:
                    raise MailDeliveryError(f"recipients refused: {len(refused)}")
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
